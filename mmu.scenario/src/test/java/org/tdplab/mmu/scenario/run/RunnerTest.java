package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VerbSpec;

/** The runner: unexpected outcomes, the invariant checker, exit status, parse errors, files and VMs. */
class RunnerTest {
    @TempDir
    Path dir;
    Harness h;

    @BeforeEach
    void setUp() {
        h = new Harness(dir);
    }

    // ---- outcomes no expect line names ---------------------------------------------------------------------

    @Test
    void aFailedStatementWithoutExpectErrorFails() throws Exception {
        Harness.Result r = h.run("""
                vm.create vm type=default
                slot.add vm 1 gpa=0x800 size=4K
                slot.add vm 1 gpa=0 size=4K
                """);
        assertEquals(1, r.status());
        assertEquals("""
                t.scn:2: expected slot.add to succeed; found EINVAL: gpa=0x800: not a 4K-aligned guest physical address
                    slot.add vm 1 gpa=0x800 size=4K
                    (if that is intended, write 'expect error EINVAL' after it)
                t.scn: 3 statements, 0 expectations, 1 failed
                0 passed, 1 failed
                """, r.out());
    }

    @Test
    void anExitOrExceptionNoExpectLineNamesFails() throws Exception {
        Harness.Result r = h.run("""
                vm.create sw type=sw_protected
                slot.add sw 1 gpa=0 size=2M
                attr.set sw gpa=0x1000 size=4K private
                guest sw vcpu=0 write gpa=0 size=8K
                expect error EFAULT
                guest sw vcpu=0 read gpa=4M
                expect value 0
                vm.create lab type=lab
                slot.add lab 1 gpa=0 size=2M
                lab.trap lab gpa=0 loud
                guest lab vcpu=0 read gpa=0
                expect exit mmio gpa=0
                """);
        // line 5's 'expect error EFAULT' names line 4's memory-fault exit (KVM_RUN returns -EFAULT with it)
        assertEquals("""
                t.scn:6: expected the access to complete; found exit mmio gpa=0x400000 after 0 pages
                    guest sw vcpu=0 read gpa=4M
                    (if that is intended, write 'expect exit mmio gpa=0x400000' after it)
                t.scn:7: expected value 0; found no value: the read did not complete (exit mmio gpa=0x400000 after 0 pages)
                    after line 6: guest sw vcpu=0 read gpa=4M
                t.scn:11: expected the access to complete; found exception LAB_TRAP after 0 pages
                    guest lab vcpu=0 read gpa=0
                    (if that is intended, write 'expect exception LAB_TRAP' after it)
                t.scn:12: expected exit mmio gpa=0; found no exit (exception LAB_TRAP after 0 pages)
                    after line 11: guest lab vcpu=0 read gpa=0""", r.failures());
        assertEquals(1, r.status());
    }

    @Test
    void anExpectedExitIsNotAFailure() throws Exception {
        Harness.Result r = h.run("""
                vm.create vm type=default
                guest vm vcpu=0 read gpa=0
                expect exit mmio gpa=0
                """);
        assertEquals(0, r.status(), r.out());
    }

    @Test
    void anUnknownVmIsAFailedStatement() throws Exception {
        Harness.Result r = h.run("""
                vm.create a type=default
                slot.add b 1 gpa=0 size=4K
                expect error EINVAL
                guest b vcpu=0 read gpa=0
                """);
        assertEquals("""
                t.scn:4: expected guest to succeed; found EINVAL: no VM 'b' in this scenario (its VMs: a)
                    guest b vcpu=0 read gpa=0
                    (if that is intended, write 'expect error EINVAL' after it)""", r.failures());
    }

    @Test
    void aWorkloadPrintsItsMetricsAsCommentLines() throws Exception {
        Harness.Result r = h.run("""
                vm.create vm type=default vcpus=2
                slot.add vm 0 gpa=0 size=2M
                run vm demand_paging gpa=0 size=64K vcpus=2
                expect stat vm pf_fixed = 16
                """);
        assertEquals(0, r.status(), r.out());
        assertTrue(r.out().contains("# t.scn:3: run vm demand_paging gpa=0 size=64K vcpus=2\n"), r.out());
        assertTrue(r.out().contains("#   Overall demand paging rate: "), r.out());
        assertTrue(r.out().contains(" (fixed 16), retries "), r.out());
    }

    @Test
    void aWorkloadWhoseAccessExitsFailsWithEfault() throws Exception {
        Harness.Result r = h.run("""
                vm.create vm type=default vcpus=2
                slot.add vm 0 gpa=0 size=32K
                run vm demand_paging gpa=0 size=64K vcpus=2
                """);
        assertEquals(1, r.status(), r.out());
        assertTrue(r.failures().contains("found EFAULT: run demand_paging: vCPU 1: write at 0x8000 ended in exit mmio"),
                r.failures());
    }

    @Test
    void aMemslotAFailedWorkloadAddedStaysTheScenarios() throws Exception {
        Harness.Result r = h.run("""
                vm.create d type=default
                run d memslot_stress gpa=0 size=4M vcpus=1 backing=2M dummy_gpa=0
                expect error EEXIST
                slot.add d 0 gpa=8M size=4K
                expect error EEXIST
                slot.log d 0 on
                guest d vcpu=0 write gpa=0
                expect spte d gpa=0 present level=4K writable=yes
                dirty.get d 0
                expect dirty d 0 count=1
                dirty.clear d 0
                dirty.get d 5
                expect error ENOENT
                """);
        assertEquals(0, r.status(), r.out());
    }

    // ---- backend verbs ----------------------------------------------------------------------------------------

    @Test
    void backendVerbsReturnTypedResults() throws Exception {
        Harness.Result r = h.run("""
                vm.create box type=lab
                lab.trap box gpa=0x3000
                lab.trap box gpa=0x4000
                lab.trap box gpa=2M
                lab.count box
                expect result 3
                lab.count box level=2M twice=on
                expect result 4
                lab.count box mode=none
                expect result 0
                lab.fill box gpa=1M size=16K
                expect remaining gpa=0x101000 size=12K
                lab.fill box gpa=1M size=4K
                expect remaining gpa=0 size=0
                lab.count box
                expect result 2
                """);
        assertEquals(1, r.status(), r.out());
        assertTrue(r.failures().contains("expected result 2; found result 3"), r.failures());
        assertEquals(1, r.failures().lines().filter(l -> l.contains("expected")).count(), r.failures());
        // a value the option's type refuses is a parse error naming it, before anything runs
        Harness.Result bad = h.run("vm.create box type=lab\nlab.count box level=1G\n");
        assertEquals(2, bad.status(), bad.out());
        String all = bad.out() + bad.err();
        assertTrue(all.contains(":2:") && all.contains("1G"), all);
    }

    @Test
    void backendVerbsRunOnTheirVmWithNumbersInDecimal() throws Exception {
        Harness.Result r = h.run("""
                vm.create box type=lab
                lab.trap box gpa=0x3000 size=4K loud
                lab.trap box gpa=2M
                lab.refuse box
                expect error EBUSY
                vm.create vm type=default
                lab.trap vm gpa=0
                expect error EINVAL
                """);
        assertEquals(0, r.status(), r.out());
        assertTrue(h.lab.invoked.get(0).matches("run-\\d+/box trap \\{gpa=12288, size=4096} \\[loud]"),
                h.lab.invoked.toString());
        assertTrue(h.lab.invoked.get(1).endsWith("box trap {gpa=2097152} []"), h.lab.invoked.toString());
        assertEquals(3, h.lab.invoked.size(), "not invoked on a VM of another type");
        assertEquals("", h.run("vm.create vm type=default\nlab.trap vm gpa=0\n").failures().lines()
                .filter(l -> l.contains("lab.trap applies to VMs of type lab; VM 'vm' is of type default"))
                .findFirst().map(l -> "").orElse("missing"));
    }

    @Test
    void aModelCrashFailsTheFileAndSkipsTheRest() throws Exception {
        Harness.Result r = h.run("""
                vm.create box type=lab
                lab.crash box
                vm.create nope type=nonesuch
                """);
        assertEquals(1, r.status());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).matches("t\\.scn:2: expected the statement to succeed or fail with an errno; found "
                + "internal error of the model, a bug in tdplab: lab backend bug in VM box \\(at LabBackend[.$].*\\)"),
                lines.get(0));
        assertEquals("    lab.crash box", lines.get(1));
        assertTrue(r.out().lines().noneMatch(l -> l.contains("java.") || l.contains("Exception") || l.contains(
                "    at ")), "no Java exception text: " + r.out());
        assertTrue(lines.contains("    the rest of the file was not run"), r.out());
        assertTrue(h.manager.vms().isEmpty(), "its VMs were destroyed all the same");
    }

    // ---- the invariant checker ----------------------------------------------------------------------------------

    @Test
    void theCheckerRunsAtTheEndOfEveryFile() throws Exception {
        Harness.Result r = h.run("""
                vm.create box type=lab
                lab.break box
                vm.create vm type=default
                """);
        assertEquals("""
                t.scn:3: expected the invariants to hold in VM box at the end of the file; found 1 violation
                    lab: broken on purpose in VM box
                    after line 3: vm.create vm type=default
                t.scn: 3 statements, 0 expectations, 1 failed
                0 passed, 1 failed
                """, r.out());
        assertEquals(1, r.status());
    }

    @Test
    void checkedModeRunsItAfterEveryStatementAndReportsEachViolationOnce() throws Exception {
        Harness.Result r = h.checked("""
                vm.create box type=lab
                lab.break box
                vm.create vm type=default
                check box
                """);
        assertEquals("""
                t.scn:2: expected the invariants to hold in VM box after this statement; found 1 violation
                    lab: broken on purpose in VM box
                    after line 2: lab.break box
                t.scn:4: expected the invariants to hold in VM box; found 1 violation
                    lab: broken on purpose in VM box
                    after line 4: check box""", r.failures());
    }

    @Test
    void aVmIsCheckedBeforeTheScenarioDestroysIt() throws Exception {
        Harness.Result r = h.run("""
                vm.create box type=lab
                lab.break box
                vm.destroy box
                expect vm box alive
                """);
        assertEquals("""
                t.scn:3: expected the invariants to hold in VM box before it is destroyed; found 1 violation
                    lab: broken on purpose in VM box
                    after line 3: vm.destroy box""", r.failures());
    }

    @Test
    void aBuggedVmIsStillCheckedAndTornDown() throws Exception {
        Harness.Result r = h.checked("""
                vm.create box type=lab
                slot.add box 1 gpa=0 size=2M
                guest box vcpu=0 write gpa=0 size=2M
                zap box gpa=0 size=4K
                expect error EIO
                guest box vcpu=0 read gpa=0
                expect error EIO
                expect vm box bugged
                """);
        assertEquals(0, r.status(), r.out());
        assertTrue(h.manager.vms().isEmpty());
    }

    @Test
    void aDeadVmAnswersEioBeforeItLooksAtTheSlot() throws Exception {
        // kvm_vm_ioctl refuses every ioctl of a dead VM first: a slot the VMM does not know is EIO there, not ENOENT
        Harness.Result r = h.run("""
                vm.create box type=lab
                slot.add box 1 gpa=0 size=2M
                zap box gpa=0 size=4K
                expect error EIO
                dirty.get box 7
                expect error EIO
                dirty.clear box 7
                expect error EIO
                dirty.get box 1
                expect error EIO
                """);
        assertEquals(0, r.status(), r.out());
    }

    // ---- exit status, parsing, files ------------------------------------------------------------------------------

    @Test
    void exitStatus() throws Exception {
        assertEquals(0, h.run("vm.create vm type=default\n").status());
        assertEquals(1, h.run("vm.create vm type=nonesuch\n").status());
        assertEquals(2, h.run("vm.create vm type=default\nslot.add vm\n").status());
        assertEquals(2, h.run(false, dir.resolve("missing.scn")).status());
    }

    @Test
    void nothingRunsWhenAFileDoesNotParse() throws Exception {
        Path good = h.file("good.scn", "vm.create a type=default\n");
        Path bad = h.file("bad.scn", """
                vm.create vm type=default
                # the next line is fine, the one after is not
                slot.add vm 1 gpa=0 size=2M
                slot.add vm 2 gpa=2M size=2M backing=3M
                guest vm vcpu=0 raed gpa=0
                """);
        Counting counting = new Counting(h.manager);
        Harness.Result r = h.run(counting, false, List.of(good.toString(), bad.toString()));
        assertEquals(2, r.status());
        assertEquals(0, counting.creates.get(), "no VM was created");
        assertEquals("", r.out());
        assertEquals("""
                bad.scn:4:30: slot.add: backing: bad level '3M' (4K, 2M or 1G)
                bad.scn:5:17: guest: unknown flag 'raed' (did you mean 'read'?)
                nothing was run: 1 file could not be read or parsed
                """, r.err());
    }

    @Test
    void unreadableFilesAreReportedAndNothingRuns() throws Exception {
        Path good = h.file("good.scn", "vm.create a type=default\n");
        Harness.Result r = h.run(false, good, dir.resolve("missing.scn"), dir);
        assertEquals(2, r.status());
        assertEquals("", r.out());
        assertEquals("missing.scn: cannot read: no such file\n" + dir + ": cannot read: is a directory\n"
                + "nothing was run: 2 files could not be read or parsed\n", r.err());
    }

    @Test
    void eachFileRunsInItsOwnVmsAndTheyAreDestroyedAtTheEnd() throws Exception {
        String text = """
                vm.create vm type=default
                slot.add vm 1 gpa=0 size=2M
                guest vm vcpu=0 write gpa=0 value=%s
                guest vm vcpu=0 read gpa=0
                expect value 1
                """;
        Path one = h.file("one.scn", text.formatted("1"));
        Path two = h.file("two.scn", text.formatted("2"));
        Harness.Result r = h.run(false, one, two, one);
        assertEquals("""
                one.scn: 4 statements, 1 expectation, ok
                two.scn:5: expected value 1; found 0x2
                    after line 4: guest vm vcpu=0 read gpa=0
                two.scn: 4 statements, 1 expectation, 1 failed
                one.scn: 4 statements, 1 expectation, ok
                2 passed, 1 failed
                """, r.out());
        assertEquals(1, r.status());
        assertTrue(h.manager.vms().isEmpty(), "every VM destroyed");
    }

    @Test
    void vmNamesCannotCollideWithAnotherRun() throws Exception {
        Vm mine = h.manager.create("vm", "default", 1, 48, Map.of());
        assertEquals(0, h.run("vm.create vm type=default\nvm.create vm type=default\nexpect error EEXIST\n").status());
        assertEquals(List.of(mine), List.copyOf(h.manager.vms()), "the shell's VM is untouched");
    }

    /** A manager that counts creations. */
    private static final class Counting implements VmManager {
        final VmManager delegate;
        final AtomicInteger creates;

        Counting(VmManager delegate) {
            this(delegate, new AtomicInteger());
        }

        Counting(VmManager delegate, AtomicInteger creates) {
            this.delegate = delegate;
            this.creates = creates;
        }

        /** A session counts into the same counter. */
        @Override
        public VmManager session() {
            return new Counting(delegate.session(), creates);
        }

        @Override
        public List<org.tdplab.mmu.api.DestroyedVm> destroyed() {
            return delegate.destroyed();
        }

        @Override
        public Vm create(String name, String type, int vcpus, int gpaw, Map<String, String> options) {
            creates.incrementAndGet();
            return delegate.create(name, type, vcpus, gpaw, options);
        }

        @Override
        public Optional<Vm> find(String name) {
            return delegate.find(name);
        }

        @Override
        public Collection<Vm> vms() {
            return delegate.vms();
        }

        @Override
        public List<BackendInfo> backends() {
            return delegate.backends();
        }

        @Override
        public List<VerbSpec> verbs() {
            return delegate.verbs();
        }

        @Override
        public void addObserver(MmuObserver observer) {
            delegate.addObserver(observer);
        }

        @Override
        public void removeObserver(MmuObserver observer) {
            delegate.removeObserver(observer);
        }
    }

    @Test
    void outOfHeapFailsTheFileWithEnomemAndTheRunGoesOn() throws Exception {
        // inside a VM operation the core answers ENOMEM; anywhere else the runner fails the file with it
        Path inOp = h.file("op.scn", "vm.create a type=lab\nslot.add a 0 gpa=0 size=2M\nlab.hog a\nexpect error ENOMEM\n"
                + "check a\n");
        Path hog = h.file("hog.scn", "vm.create b type=default\nslot.add b 0 gpa=0 size=2M\n"
                + "guest b vcpu=0 write gpa=0 size=8K\nvm.create a type=lab hog=on\ncheck b\n");
        Path next = h.file("next.scn", "vm.create c type=default\nslot.add c 0 gpa=0 size=2M\ncheck c\n");
        Harness.Result r = h.run(false, inOp, hog, next);
        assertEquals(1, r.status());
        assertTrue(r.out().startsWith("op.scn: 4 statements, 1 expectation, ok\n"
                + "hog.scn:4: expected the statement to succeed or fail with an errno; found ENOMEM: the Java heap ("), r.out());
        assertTrue(r.out().contains(" MiB) is exhausted: raise it with -Xmx, e.g. TDPLAB_JAVA_OPTS=-Xmx20g ./tdplab run …\n"
                + "    vm.create a type=lab hog=on\n    the rest of the file was not run\n"), r.out());
        assertTrue(r.out().contains("next.scn: 3 statements, 0 expectations, ok\n2 passed, 1 failed\n"), r.out());
        assertTrue(h.manager.vms().isEmpty(), "the file's VMs are torn down: " + h.manager.vms());
        assertTrue(!r.out().contains("OutOfMemoryError") && !r.out().contains("heap space"), r.out());
    }

    @Test
    void acceptingSharedMemorySaysWhatToWrite() throws Exception {
        Harness.Result r = h.run("""
                vm.create td type=tdx vcpus=2
                slot.add td 0 gpa=0 size=16M flags=gmem
                tdx.finalize td
                run td demand_paging gpa=12M size=64K vcpus=1
                run td demand_paging gpa=0 size=4M vcpus=2 backing=4K slot=1
                """);
        assertTrue(r.out().startsWith("t.scn:4: expected run to succeed; found EFAULT: run demand_paging: vCPU 0: accept "
                + "(a guest accepts private memory only: write 'attr.set td gpa=0xc00000 size=0x10000 private' before "
                + "this run, or accept=off to use the range as shared) ended in "), r.out());
        assertTrue(r.out().contains("t.scn:5: expected run to succeed; found EEXIST"), "slot 1 overlaps slot 0: " + r.out());
    }
}
