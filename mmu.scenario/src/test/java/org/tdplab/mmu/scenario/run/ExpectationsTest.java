package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every expectation kind, holding and failing, with the exact report text. */
class ExpectationsTest {
    @TempDir
    Path dir;
    Harness h;

    @BeforeEach
    void setUp() {
        h = new Harness(dir);
    }

    private static final String SETUP = """
            vm.create vm type=default vcpus=2
            slot.add vm 1 gpa=1G size=4M backing=2M
            """;

    /** The failure lines of a run that must fail (status 1). */
    private String fails(String text) throws Exception {
        Harness.Result r = h.run(SETUP + text);
        assertEquals(1, r.status(), r.out());
        assertEquals("", r.err());
        return r.failures();
    }

    @Test
    void everyKindHolds() throws Exception {
        Harness.Result r = h.run(SETUP + """
                slot.add vm 2 gpa=1G size=4K
                expect error EEXIST
                guest vm vcpu=0 read gpa=0x10000
                expect exit mmio gpa=0x10000
                guest vm vcpu=1 write gpa=1G size=2M value=0x5
                guest vm vcpu=0 read gpa=1G size=2M
                expect value 5
                expect spte vm gpa=1G present level=2M writable=yes root=direct
                expect spte vm gpa=0x40200000 absent
                expect spte vm gpa=1G absent level=4K
                expect spte vm gpa=1G absent root=mirror
                expect stat vm pages_2m = 1
                expect stat vm pages_2m >= 1
                expect stat vm pages_2m != 0
                expect stat vm pages_4k < 1
                expect stat vm pf_taken <= 2
                expect stat vm pf_taken > 1
                expect vm vm alive
                slot.add vm 3 gpa=2G size=1M flags=dirty_log
                guest vm vcpu=0 write gpa=0x80003000 size=8K
                dirty.get vm 3
                expect dirty vm 3 count=2
                expect dirty vm 3 gpa=0x80004000 set
                expect dirty vm 3 gpa=0x80005000 clear
                vm.create sw type=sw_protected
                slot.add sw 1 gpa=0 size=2M
                attr.set sw gpa=0 size=4K private
                guest sw vcpu=0 read gpa=0
                expect exit memory_fault gpa=0 size=4K private
                vm.create lab type=lab
                slot.add lab 1 gpa=0 size=2M
                lab.trap lab gpa=0x3000
                guest lab vcpu=0 read gpa=0 size=16K
                expect exception LAB_TRAP
                zap lab gpa=0 size=4K
                expect error EIO
                expect vm lab bugged
                expect vm lab dead
                test_age vm gpa=1G size=4M
                expect result 512
                age vm gpa=1G size=4M
                expect result 512
                test_age vm gpa=1G size=4M
                expect result 0
                prefault vm gpa=1G size=4M
                expect remaining gpa=0x40400000 size=0
                """);
        assertEquals("t.scn: 22 statements, 26 expectations, ok\n1 passed, 0 failed\n", r.out());
        assertEquals(0, r.status());
    }

    @Test
    void error() throws Exception {
        assertEquals("""
                t.scn:4: expected error EINVAL; found EEXIST: gpa=0x40000000 size=0x1000: overlaps slot 1 gfn [0x40000, 0x40400) flags=- backing=2M
                    after line 3: slot.add vm 2 gpa=1G size=4K
                t.scn:6: expected error ENOENT; found no error (success)
                    after line 5: slot.add vm 2 gpa=2G size=4K
                t.scn:8: expected error EFAULT; found no error (exit mmio gpa=0x0 after 0 pages)
                    after line 7: guest vm vcpu=0 read gpa=0
                t.scn:11: expected error EINVAL; found no error (the access completed: 1 page)
                    after line 10: guest vm vcpu=0 read gpa=1G""", fails("""
                slot.add vm 2 gpa=1G size=4K
                expect error EINVAL
                slot.add vm 2 gpa=2G size=4K
                expect error ENOENT
                guest vm vcpu=0 read gpa=0
                expect error EFAULT
                expect exit mmio gpa=0
                guest vm vcpu=0 read gpa=1G
                expect error EINVAL
                """));
    }

    @Test
    void exitMemoryFault() throws Exception {
        assertEquals("""
                t.scn:7: expected exit memory_fault gpa=0x1000 size=4K private; found exit memory_fault gpa=0x0 size=4K private
                    after line 6: guest sw vcpu=0 read gpa=0
                t.scn:8: expected exit memory_fault gpa=0 size=4K shared; found exit memory_fault gpa=0x0 size=4K private
                    after line 6: guest sw vcpu=0 read gpa=0
                t.scn:9: expected exit memory_fault gpa=0 size=8K private; found exit memory_fault gpa=0x0 size=4K private
                    after line 6: guest sw vcpu=0 read gpa=0
                t.scn:11: expected exit memory_fault gpa=0x1000 size=4K shared; found no exit (the access completed: 1 page)
                    after line 10: guest sw vcpu=0 read gpa=0x1000""", fails("""
                vm.create sw type=sw_protected
                slot.add sw 1 gpa=0 size=2M
                attr.set sw gpa=0 size=4K private
                guest sw vcpu=0 read gpa=0
                expect exit memory_fault gpa=0x1000 size=4K private
                expect exit memory_fault gpa=0 size=4K shared
                expect exit memory_fault gpa=0 size=8K private
                guest sw vcpu=0 read gpa=0x1000
                expect exit memory_fault gpa=0x1000 size=4K shared
                """));
    }

    @Test
    void exitMmio() throws Exception {
        assertEquals("""
                t.scn:4: expected exit mmio gpa=0x20000; found exit mmio gpa=0x10000
                    after line 3: guest vm vcpu=0 write gpa=0x10000
                t.scn:6: expected exit mmio gpa=1G; found no exit (the access completed: 1 page)
                    after line 5: guest vm vcpu=0 write gpa=1G
                t.scn:8: expected exit mmio gpa=0; found EINVAL: vcpu=7: VM 'vm' has vCPUs 0..1
                    after line 7: guest vm vcpu=7 read gpa=0""", fails("""
                guest vm vcpu=0 write gpa=0x10000
                expect exit mmio gpa=0x20000
                guest vm vcpu=0 write gpa=1G
                expect exit mmio gpa=1G
                guest vm vcpu=7 read gpa=0
                expect exit mmio gpa=0
                expect error EINVAL
                """));
    }

    @Test
    void mmioExitsCompareWholePages() throws Exception {
        assertEquals(0, h.run(SETUP + "guest vm vcpu=0 read gpa=0x10000\nexpect exit mmio gpa=0x10ff8\n").status());
        // the exit reports the access's own address (run->mmio.phys_addr), not its page's
        assertEquals("""
                t.scn:4: expected exit mmio gpa=0x20000; found exit mmio gpa=0x10800
                    after line 3: guest vm vcpu=0 read gpa=0x10800 size=8K""",
                fails("guest vm vcpu=0 read gpa=0x10800 size=8K\nexpect exit mmio gpa=0x20000\n"));
    }

    @Test
    void exception() throws Exception {
        assertEquals("""
                t.scn:7: expected exception PF; found exception LAB_TRAP
                    after line 6: guest lab vcpu=0 exec gpa=0x2000 size=8K
                t.scn:9: expected exception LAB_TRAP; found no exception (the access completed: 1 page)
                    after line 8: guest lab vcpu=0 read gpa=0""", fails("""
                vm.create lab type=lab
                slot.add lab 1 gpa=0 size=2M
                lab.trap lab gpa=0x3000
                guest lab vcpu=0 exec gpa=0x2000 size=8K
                expect exception PF
                guest lab vcpu=0 read gpa=0
                expect exception LAB_TRAP
                """));
    }

    @Test
    void resultAndRemaining() throws Exception {
        assertEquals("""
                t.scn:5: expected result 3; found result 4
                    after line 4: test_age vm gpa=1G size=16K
                t.scn:7: expected remaining gpa=0x40400000 size=0; found remaining gpa=0x40400000 size=0x1000
                    after line 6: prefault vm gpa=1G size=0x401000
                t.scn:8: expected remaining gpa=1G size=4K; found remaining gpa=0x40400000 size=0x1000
                    after line 6: prefault vm gpa=1G size=0x401000
                t.scn:14: expected remaining gpa=0x2000 size=4K; found remaining gpa=0x1000 size=0x1000
                    after line 12: prefault vm gpa=4K size=4K""", fails("""
                guest vm vcpu=0 write gpa=1G size=8K
                test_age vm gpa=1G size=16K
                expect result 3
                prefault vm gpa=1G size=0x401000
                expect remaining gpa=0x40400000 size=0
                expect remaining gpa=1G size=4K
                prefault vm gpa=0 size=0
                expect remaining gpa=0 size=0
                expect error EINVAL
                prefault vm gpa=4K size=4K
                expect error ENOENT
                expect remaining gpa=0x2000 size=4K
                """));
    }

    @Test
    void value() throws Exception {
        assertEquals("""
                t.scn:5: expected value 0x6; found 0x5
                    after line 4: guest vm vcpu=0 read gpa=1G size=8K
                t.scn:8: expected value 7; found pages that read different values: the first page read 0x7, a later page another value
                    after line 7: guest vm vcpu=0 read gpa=0x40002000 size=8K
                t.scn:9: expected the access to complete; found exit mmio gpa=0x3ffff000 after 0 pages
                    guest vm vcpu=0 read gpa=0x3ffff000 size=8K
                    (if that is intended, write 'expect exit mmio gpa=0x3ffff000' after it)
                t.scn:10: expected value 0; found no value: the read did not complete (exit mmio gpa=0x3ffff000 after 0 pages)
                    after line 9: guest vm vcpu=0 read gpa=0x3ffff000 size=8K""", fails("""
                guest vm vcpu=0 write gpa=1G size=8K value=5
                guest vm vcpu=0 read gpa=1G size=8K
                expect value 0x6
                guest vm vcpu=0 write gpa=0x40002000 value=7
                guest vm vcpu=0 read gpa=0x40002000 size=8K
                expect value 7
                guest vm vcpu=0 read gpa=0x3ffff000 size=8K
                expect value 0
                """));
    }

    @Test
    void spte() throws Exception {
        assertEquals("""
                t.scn:4: expected spte vm gpa=1G present level=4K; found a 2M leaf in the direct root (writable, pfn 0x%s)
                t.scn:5: expected spte vm gpa=1G present writable=no; found a 2M leaf in the direct root (writable, pfn 0x%s)
                t.scn:6: expected spte vm gpa=1G absent; found a 2M leaf in the direct root (writable, pfn 0x%s)
                t.scn:7: expected spte vm gpa=0x40200000 present; found no leaf maps it
                t.scn:8: expected spte vm gpa=1G present root=mirror; found no valid mirror root
                t.scn:9: expected spte nope gpa=0 present; found no VM 'nope' in this scenario
                t.scn:10: expected spte vm gpa=0x1000000000000 present; found EINVAL: walk: gpa=0x1000000000000 \
                size=0x1000 reaches beyond the VM's limit 0x1000000000000"""
                .replace("%s", pfn()), fails("""
                guest vm vcpu=0 read gpa=1G
                expect spte vm gpa=1G present level=4K
                expect spte vm gpa=1G present writable=no
                expect spte vm gpa=1G absent
                expect spte vm gpa=0x40200000 present
                expect spte vm gpa=1G present root=mirror
                expect spte nope gpa=0 present
                expect spte vm gpa=0x1000000000000 present
                expect spte vm gpa=0x1000000000000 absent
                """));
    }

    /** The pfn the 2M leaf of the first read got (the standalone core's host memory is shared by all VMs). */
    private String pfn() throws Exception {
        String out = new Harness(dir).run(SETUP + "guest vm vcpu=0 read gpa=1G\nexpect spte vm gpa=1G absent\n").out();
        return out.replaceAll("(?s).*pfn 0x([0-9a-f]+)\\).*", "$1");
    }

    @Test
    void stat() throws Exception {
        String failures = fails("""
                guest vm vcpu=0 read gpa=1G
                expect stat vm pages_2m = 2
                expect stat vm pages_2m < 1
                expect stat vm pages_2m > 18446744073709551615
                expect stat vm pages_3m = 0
                expect stat nope pages_2m = 0
                """);
        assertEquals("""
                t.scn:4: expected stat vm pages_2m = 2; found pages_2m = 1
                t.scn:5: expected stat vm pages_2m < 1; found pages_2m = 1
                t.scn:6: expected stat vm pages_2m > 18446744073709551615; found pages_2m = 1
                t.scn:7: expected stat vm pages_3m = 0; found no stat 'pages_3m' (VM vm has: pf_taken, pf_fixed, \
                pf_spurious, pf_retry, pf_emulate, pf_mmio_spte_created, pf_fast, pages_4k, pages_2m, pages_1g, \
                tdp_mmu_pages, remote_tlb_flush, remote_tlb_flush_requests, mmu_shadow_zapped, nx_lpage_splits, \
                lpage_splits, exits_memory_fault, exits_mmio, roots_allocated, roots_freed, projected_firmware_ns)
                t.scn:8: expected stat nope pages_2m = 0; found no VM 'nope' in this scenario""", failures);
    }

    @Test
    void vm() throws Exception {
        assertEquals("""
                t.scn:3: expected vm vm bugged; found alive
                t.scn:4: expected vm vm dead; found alive
                t.scn:9: expected vm lab alive; found bugged (kvm_zap_gfn_range for a memory-type change on a VM of \
                type lab, whose backend does not support it)""", fails("""
                expect vm vm bugged
                expect vm vm dead
                vm.create lab type=lab
                slot.add lab 1 gpa=0 size=2M
                zap lab gpa=0 size=4K
                expect error EIO
                expect vm lab alive
                expect vm lab dead
                expect vm lab bugged
                """));
    }

    @Test
    void dirty() throws Exception {
        assertEquals("""
                t.scn:3: expected dirty vm 1 count=0; found no dirty.get of memslot 1 before it
                t.scn:8: expected dirty vm 1 count=1; found 3 dirty pages (0x40000000, 0x40001000, 0x40002000)
                t.scn:9: expected dirty vm 1 gpa=0x40000000 clear; found set
                t.scn:10: expected dirty vm 1 gpa=0x40003000 set; found clear
                t.scn:11: expected dirty vm 1 gpa=2G set; found gpa 0x80000000 outside memslot 1 (0x40000000..0x40400000) \
                at the last dirty.get""", fails("""
                expect dirty vm 1 count=0
                slot.log vm 1 on
                guest vm vcpu=0 write gpa=1G size=12K
                dirty.get vm 1
                expect dirty vm 1 count=3
                expect dirty vm 1 count=1
                expect dirty vm 1 gpa=0x40000000 clear
                expect dirty vm 1 gpa=0x40003000 set
                expect dirty vm 1 gpa=2G set
                """));
    }

    @Test
    void dirtyBitmapsFollowTheSlotWhereItWasWhenCollected() throws Exception {
        Harness.Result r = h.run(SETUP + """
                slot.log vm 1 on
                guest vm vcpu=0 write gpa=0x40001000
                dirty.get vm 1
                slot.move vm 1 gpa=2G
                expect dirty vm 1 gpa=0x40001000 set
                guest vm vcpu=0 write gpa=0x80002000
                dirty.get vm 1
                expect dirty vm 1 gpa=0x80002000 set
                expect dirty vm 1 count=1
                dirty.clear vm 1
                """);
        assertEquals(0, r.status(), r.out());
    }
}
