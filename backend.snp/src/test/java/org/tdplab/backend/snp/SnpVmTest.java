package org.tdplab.backend.snp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/** SNP VMs on the real core, through the public {@link Vm} API. */
class SnpVmTest {
    static final long K4 = 0x1000, M2 = 2L << 20;

    final SnpBackend backend = new SnpBackend();
    final VmManager manager = Standalone.vmManager(backend);

    /** The RMP of the host the test's VMs share (made with the first VM). */
    Rmp rmp() {
        return backend.host().rmp();
    }

    @AfterEach
    void everyFrameIsSharedAgainAfterTeardown() {
        for (Vm vm : List.copyOf(manager.vms()))
            vm.destroy();
        if (backend.host() == null)
            return; // no VM was created
        assertEquals(0, rmp().assignedPages(), "frames still assigned after every VM was destroyed");
        assertEquals(List.of(), backend.host().leaks());
        assertEquals(List.of(), rmp().check());
    }

    Vm create(int vcpus) {
        return manager.create("snp" + manager.vms().size(), "snp", vcpus, 48, Map.of());
    }

    /** A VM with a guest_memfd slot of {@code size} at 0 backed by 2M folios, all private. */
    Vm privateVm(long size) {
        Vm vm = create(1);
        vm.addMemslot(0, 0, size, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, size, true);
        clean(vm);
        return vm;
    }

    static void clean(Vm vm) {
        CheckReport r = vm.check();
        assertTrue(r.ok(), () -> "invariants broken:\n  " + String.join("\n  ", r.violations()));
    }

    static AccessResult write(Vm vm, long gpa, long size, long value) {
        return vm.access(0, Access.WRITE, gpa, size, Encoding.CURRENT, value);
    }

    static AccessResult read(Vm vm, long gpa, long size) {
        return vm.access(0, Access.READ, gpa, size, Encoding.CURRENT, 0);
    }

    static long stat(Vm vm, String name) {
        return vm.stats().getOrDefault(name, 0L);
    }

    static void launchUpdate(Vm vm, long gpa, long size, String... flags) {
        vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", (long) (gpa), "size", (long) (size)), Set.of(flags)));
    }

    static void finish(Vm vm) {
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
    }

    static Errno errno(Runnable r) {
        return assertThrows(MmuException.class, r::run).errno();
    }

    @Test
    void theCheckerCatchesASharedLeafMappingAnAssignedFrame() {
        Vm vm = create(1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        finish(vm);
        assertTrue(write(vm, 0x3000, K4, 0x5).completed());
        clean(vm);
        // a deliberately wrong step: the hypervisor assigns a frame that a shared leaf still maps
        long pfn = vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().pfn();
        assertEquals(0, rmp().rmpupdate(pfn, 0x3000, true, 0, false, 1));
        CheckReport r = vm.check();
        assertFalse(r.ok(), "a shared leaf mapping an assigned frame must be reported");
        assertTrue(r.violations().stream().anyMatch(v -> v.contains("0x3000") || v.contains("shared")),
                r.violations().toString());
        assertEquals(0, rmp().rmpupdate(pfn, 0, false, 0, false, 0)); // put it back for the teardown checks
        clean(vm);
    }

    @Test
    void launchUpdateHandsBackTheTailItCouldNotTake() {
        Vm vm = create(1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 3 * K4, true);
        VerbArgs range = new VerbArgs("launch_update", Map.of("gpa", 0L, "size", 8 * K4), Set.of("zero"));
        assertEquals(Optional.of(new Remaining(3 * K4, 5 * K4)), vm.invoke("launch_update", range).remaining());
        assertEquals(3, stat(vm, "SNP_LAUNCH_UPDATE"));
        clean(vm);
        // the rest: nothing can be done, so the ioctl fails (snp_launch_update: count < 0 is EIO)
        MmuException e = assertThrows(MmuException.class, () -> vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", (long) (3 * K4), "size", (long) (5 * K4)), Set.of("zero"))));
        assertEquals(Errno.EIO, e.errno());
        assertEquals(3, stat(vm, "SNP_LAUNCH_UPDATE"));
        // past the memslot's end: up to the end, the rest back
        vm.setMemoryAttributes(M2 - K4, K4, true);
        assertEquals(Optional.of(new Remaining(M2, 3 * K4)), vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", (long) (M2 - K4), "size", (long) (4 * K4)), Set.of("zero"))).remaining());
        clean(vm);
    }

    @Test
    void launchAndBootWith2mPrivatePages() {
        Vm vm = create(2);
        vm.addMemslot(0, 0, 4 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        // the VMM puts the firmware image into the shared pages, then makes the range private
        assertTrue(vm.access(0, Access.WRITE, 0, 2 * K4, Encoding.SHARED, 0xf1e).completed());
        vm.setMemoryAttributes(0, 4 * M2, true);
        assertEquals(2, stat(vm, "RMPUPDATE"), "the firmware's guest request response and context pages");
        launchUpdate(vm, 0, 2 * K4);
        clean(vm);
        assertEquals(2, stat(vm, "SNP_LAUNCH_UPDATE"));
        assertEquals(Errno.ENOTSUP, errno(() -> vm.prefault(0, M2, M2)), "pre-fault waits for the finish");
        finish(vm);
        clean(vm);
        assertEquals(2 + 2 + 2, stat(vm, "RMPUPDATE"), "firmware pages, two launched pages, two VMSAs");

        // the launched pages are pre-validated: the guest reads its image at once, through 4K mappings
        AccessResult image = read(vm, 0, 2 * K4);
        assertTrue(image.completed() && image.valuesAgree());
        assertEquals(0xf1e, image.value());
        assertEquals(2, stat(vm, "pages_4k"));

        // the rest is validated at 2M and mapped at 2M
        assertTrue(vm.accept(0, M2, 3 * M2, PageSize.SIZE_2M).completed());
        clean(vm);
        assertEquals(3, stat(vm, "PVALIDATE"));
        assertEquals(2 + 2 + 2 + 3, stat(vm, "RMPUPDATE"), "one 2M RMPUPDATE per 2M folio");
        assertTrue(write(vm, M2, 3 * M2, 0x5eed).completed());
        AccessResult back = vm.access(1, Access.READ, M2, 3 * M2, Encoding.PRIVATE, 0);
        assertTrue(back.completed() && back.valuesAgree());
        assertEquals(0x5eed, back.value());
        assertEquals(3, stat(vm, "pages_2m"));
        assertEquals(2, vm.lookup(3 * M2 + 0x3000, RootKind.DIRECT).orElseThrow().level());
        assertEquals(0, stat(vm, "PSMASH"));
        clean(vm);

        assertEquals(0, vm.prefault(0, 0, M2), "pre-fault is allowed after the finish");
        clean(vm);
    }

    @Test
    void a4kValidationInsideA2mPageSplitsTheRmpAndRebuildsAt4k() {
        Vm vm = privateVm(2 * M2);
        finish(vm);
        long gpa = M2 + 5 * K4;
        AccessResult r = vm.accept(0, gpa, K4, PageSize.SIZE_4K);
        assertTrue(r.completed(), () -> "" + r);
        clean(vm);
        assertEquals(1, stat(vm, "PSMASH"));
        assertEquals(1, stat(vm, "pages_4k"));
        assertEquals(0, stat(vm, "pages_2m"));
        assertEquals(2, stat(vm, "PVALIDATE"), "the 4K PVALIDATE faulted once (SIZEM), then succeeded");
        assertEquals(1, vm.lookup(gpa, RootKind.DIRECT).orElseThrow().level());
        assertTrue(write(vm, gpa, K4, 7).completed());
        assertEquals(7, read(vm, gpa, K4).value());
        assertEquals("VC", read(vm, gpa + K4, K4).exception(), "its neighbours are not validated");
        assertEquals(2, stat(vm, "pages_4k"));
        clean(vm);
    }

    /**
     * After the PSMASH of an RMP fault KVM zaps {@code [gfn, gfn + PTRS_PER_PMD)} from the faulting gfn
     * ({@code sev_handle_rmp_fault}): unaligned, the range reaches into the next 2M region, whose huge leaf goes too.
     */
    @Test
    void theZapAfterAnRmpFaultsPsmashStartsAtTheFaultingGfn() {
        Vm vm = privateVm(2 * M2);
        finish(vm);
        assertTrue(vm.accept(0, M2, M2, PageSize.SIZE_2M).completed());
        assertTrue(write(vm, M2, K4, 9).completed());
        assertEquals(1, stat(vm, "pages_2m"), "the second region mapped at 2M");
        assertTrue(vm.accept(0, 5 * K4, K4, PageSize.SIZE_4K).completed()); // RMP fault at gfn 5: PSMASH, zap
        assertEquals(1, stat(vm, "PSMASH"));
        assertEquals(0, stat(vm, "pages_2m"), "[5, 517) reaches the next region's 2M leaf");
        assertEquals(9, read(vm, M2, K4).value(), "which faults in again, its data kept");
        assertEquals(1, stat(vm, "pages_2m"));
        clean(vm);
    }

    @Test
    void anUnvalidatedPrivatePageRaisesVc() {
        Vm vm = privateVm(M2);
        finish(vm);
        AccessResult r = read(vm, 0x3000, K4);
        assertEquals("VC", r.exception());
        assertEquals(0, r.pages());
        assertEquals(1, stat(vm, "pages_2m"), "KVM mapped it; the RMP check refused it");
        clean(vm);
        assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        assertTrue(read(vm, 0x3000, K4).completed());
        clean(vm);
    }

    @Test
    void a2mValidationOverLaunched4kPagesFallsBackTo4k() {
        Vm vm = privateVm(M2);
        launchUpdate(vm, K4, K4, "zero");
        finish(vm);
        assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        clean(vm);
        assertEquals(1 + 512, stat(vm, "PVALIDATE"), "FAIL_SIZEMISMATCH, then 512 4K validations");
        assertEquals(512, stat(vm, "pages_4k"));
        AccessResult all = read(vm, 0, M2);
        assertTrue(all.completed() && all.valuesAgree());
        assertEquals(0, all.value());
    }

    @Test
    void aNestedMappingSmallerThanTheRmpPageIsSplitOnTheRmpFault() {
        Vm vm = privateVm(M2);
        vm.setMemoryAttributes(5 * K4, K4, false); // mixed attributes: KVM maps 4K, the folio's RMP page is 2M
        finish(vm);
        assertEquals("VC", read(vm, 0, K4).exception());
        assertEquals(1, stat(vm, "PSMASH"), "RMP #NPF (4K leaf on a 2M RMP page) → PSMASH and zap");
        assertTrue(vm.accept(0, 0, K4, PageSize.SIZE_4K).completed());
        assertTrue(write(vm, 0, K4, 3).completed());
        assertTrue(vm.access(0, Access.WRITE, 5 * K4, K4, Encoding.SHARED, 4).completed());
        assertEquals(4, read(vm, 5 * K4, K4).value());
        clean(vm);
    }

    @Test
    void conversionsBothWays() {
        Vm vm = create(1);
        vm.addMemslot(0, 0, 2 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        finish(vm);
        assertTrue(write(vm, 0, 2 * M2, 0x51).completed(), "shared memory to start with");
        clean(vm);

        // shared → private: the guest validates the aligned 2M it made private with one 2M PVALIDATE
        assertTrue(vm.convert(0, true, 0, M2).completed());
        clean(vm);
        assertEquals(0, stat(vm, "PSMASH"));
        assertEquals(2, stat(vm, "pages_2m"), "the private 2M, and the other 2M still mapped shared");
        AccessResult zero = read(vm, 0, M2);
        assertTrue(zero.completed() && zero.valuesAgree());
        assertEquals(0, zero.value(), "private pages start zeroed");
        assertTrue(write(vm, 0, M2, 0x77).completed());
        assertEquals(0x77, read(vm, 0x1000, K4).value());

        // private → shared for one page validated as part of a 2M page: the 4K PVALIDATE(0) fails with
        // FAIL_SIZEMISMATCH, the 2M entry is split (PSMASH), the 4K PVALIDATE(0) is retried; then the page-state change
        long before = stat(vm, "PVALIDATE"), smash = stat(vm, "PSMASH");
        assertTrue(vm.convert(0, false, K4, K4).completed());
        clean(vm);
        assertEquals(before + 2, stat(vm, "PVALIDATE"));
        assertEquals(smash + 1, stat(vm, "PSMASH"));
        assertEquals(0, read(vm, K4, K4).value(), "the shared page was dropped on the way to private");
        assertTrue(write(vm, K4, K4, 0x99).completed());
        assertEquals(0x77, read(vm, 0, K4).value());

        // and the whole 2M back to shared: the folio is freed, its RMP pages go back to the hypervisor
        assertTrue(vm.convert(0, false, 0, M2).completed());
        clean(vm);
        AccessResult shared = read(vm, 0, M2);
        assertTrue(shared.completed());
        for (long pfn = 0; pfn < rmp().frames(); pfn += 512)
            if (rmp().isAssigned(pfn) && rmp().asidOf(pfn) != 0)
                assertFalse(rmp().gpaOf(pfn) < M2, "gpa 0x" + Long.toHexString(rmp().gpaOf(pfn)));

        // 2M back to private with a 2M conversion of the other region, then to shared with one 2M PVALIDATE(0)
        assertTrue(vm.convert(0, true, M2, M2).completed());
        assertTrue(vm.accept(0, M2, M2, PageSize.SIZE_2M).completed(), "validating again changes nothing");
        long p = stat(vm, "PVALIDATE");
        assertTrue(vm.convert(0, false, M2, M2).completed());
        clean(vm);
        assertTrue(stat(vm, "PVALIDATE") - p >= 1);
    }

    @Test
    void a2mRescindUsesOnePvalidate() {
        Vm vm = privateVm(M2);
        finish(vm);
        assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        long p = stat(vm, "PVALIDATE"), u = stat(vm, "RMPUPDATE");
        assertTrue(vm.convert(0, false, 0, M2).completed());
        clean(vm);
        assertEquals(p + 1, stat(vm, "PVALIDATE"), "one 2M PVALIDATE(0)");
        assertEquals(u + 1, stat(vm, "RMPUPDATE"), "one 2M RMPUPDATE to shared when the folio goes");
        assertEquals(0, stat(vm, "PSMASH"));
    }

    @Test
    void aHostWriteToAPrivateFrameIsRefused() {
        Vm vm = privateVm(M2);
        finish(vm);
        assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        assertTrue(write(vm, 0, K4, 0xabc).completed());
        MmuException e = assertThrows(MmuException.class,
                () -> vm.invoke("host_write", new VerbArgs("host_write", Map.of("gpa", 0L, "value", 666L), Set.of())));
        assertEquals(Errno.EFAULT, e.errno());
        assertTrue(e.getMessage().contains("RMP"), e.getMessage());
        assertEquals(0xabc, read(vm, 0, K4).value(), "the guest's data is intact");
        vm.setMemoryAttributes(M2 - K4, K4, false);
        assertEquals(Errno.EINVAL, errno(() -> vm.invoke("host_write", new VerbArgs("host_write", Map.of("gpa", 0x1ff000L), Set.of()))));
        clean(vm);
    }

    @Test
    void launchRefusals() {
        Vm vm = create(1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.addMemslot(1, M2, M2, Set.of(), PageSize.SIZE_2M);
        assertEquals(Errno.EIO, errno(() -> launchUpdate(vm, 0, K4)), "shared by attribute");
        vm.setMemoryAttributes(0, M2, true);
        assertEquals(Errno.EINVAL, errno(() -> launchUpdate(vm, M2, K4)), "no guest_memfd");
        assertEquals(Errno.EINVAL, errno(() -> launchUpdate(vm, 0x800, K4)));
        assertEquals(Errno.EINVAL, errno(() -> launchUpdate(vm, 0, 0x800)));
        assertEquals(Errno.EINVAL, errno(() -> launchUpdate(vm, 0, K4, "zero", "unmeasured")));
        assertEquals(Errno.EINVAL, errno(() -> vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", 0L), Set.of()))));
        assertEquals(Errno.ENOTSUP, errno(() -> vm.invoke("launch_start", VerbArgs.none("launch_start"))));
        launchUpdate(vm, 0, K4);
        assertEquals(Errno.EIO, errno(() -> launchUpdate(vm, 0, K4)), "launched already: -EEXIST");
        finish(vm);
        assertEquals(Errno.EIO, errno(() -> launchUpdate(vm, K4, K4)), "after the finish");
        assertEquals(Errno.EIO, errno(() -> finish(vm)));
        assertFalse(rmp().isAssigned(backend.host().rmp().frames() - 1));
        clean(vm);
    }

    @Test
    void optionsAreCheckedAndAsidsAreDistinct() {
        MmuException e = assertThrows(MmuException.class,
                () -> manager.create("bad", "snp", 1, 48, Map.of("module", "1.0")));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("'module'"), e.getMessage());
        assertEquals(Errno.EINVAL, errno(() -> manager.create("bad", "snp", 1, 48, Map.of("policy", "0x10000"))));
        assertEquals(Errno.EINVAL, errno(() -> manager.create("bad", "snp", 1, 48, Map.of("policy", "1T"))));
        Vm a = manager.create("a", "snp", 1, 48, Map.of("policy", "0x30000"));
        Vm b = manager.create("b", "snp", 1, 52, Map.of());
        a.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        b.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        for (Vm vm : List.of(a, b)) {
            vm.setMemoryAttributes(0, M2, true);
            finish(vm);
            assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        }
        long pa = vm(a, 0), pb = vm(b, 0);
        assertTrue(rmp().asidOf(pa) != rmp().asidOf(pb) && rmp().asidOf(pa) > 0 && rmp().asidOf(pb) > 0);
        clean(a);
        clean(b);
    }

    /** The pfn a VM's leaf maps at {@code gpa}. */
    static long vm(Vm vm, long gpa) {
        return vm.lookup(gpa, RootKind.DIRECT).orElseThrow().pfn();
    }

    @Test
    void aPrivateAccessToASharedPageExitsForConversion() {
        Vm vm = create(1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        finish(vm);
        assertTrue(write(vm, 0, K4, 1).completed());
        AccessResult r = vm.access(0, Access.READ, 0, K4, Encoding.PRIVATE, 0);
        assertEquals(Exit.Reason.MEMORY_FAULT, r.exit().reason());
        assertTrue(r.exit().isPrivate());
        AccessResult acc = vm.accept(0, 0, K4, PageSize.SIZE_4K);
        assertEquals(Exit.Reason.MEMORY_FAULT, acc.exit().reason(), "PVALIDATE of a shared page");
        assertNull(acc.exception());
        clean(vm);
    }

    @Test
    void instructionsAreTracedUnderTheirNames() {
        List<String> calls = Collections.synchronizedList(new ArrayList<>());
        manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                calls.add(name + ":" + status);
            }
        });
        Vm vm = privateVm(M2);
        finish(vm);
        vm.accept(0, 3 * K4, K4, PageSize.SIZE_4K);
        assertTrue(calls.contains("RMPUPDATE:SUCCESS"), calls.toString());
        assertTrue(calls.contains("PVALIDATE:NPF_RMP_SIZEM"), calls.toString());
        assertTrue(calls.contains("PSMASH:SUCCESS"), calls.toString());
        assertTrue(calls.contains("PVALIDATE:SUCCESS"), calls.toString());
        assertTrue(calls.contains("SNP_LAUNCH_FINISH:SUCCESS"), calls.toString());
        assertEquals(0, stat(vm, "RMPADJUST"));
        vm.destroy();
        assertTrue(calls.contains("SNP_DECOMMISSION:SUCCESS"), calls.toString());
        assertTrue(calls.contains("SNP_PAGE_RECLAIM:SUCCESS"), calls.toString());
    }

    @Test
    void teardownReturnsEveryFrameToTheHypervisor() {
        Vm vm = privateVm(4 * M2);
        launchUpdate(vm, 0, 3 * K4);
        finish(vm);
        vm.accept(0, M2, 2 * M2, PageSize.SIZE_2M);
        vm.accept(0, 3 * M2 + K4, K4, PageSize.SIZE_4K); // a PSMASHed region
        write(vm, M2, 2 * M2, 1);
        assertTrue(rmp().assignedPages() > 3 * 512);
        clean(vm);
        vm.destroy();
        assertEquals(0, rmp().assignedPages());
        assertEquals(List.of(), rmp().check());
        assertTrue(manager.vms().isEmpty());
    }

    @Test
    void a1gFolioGets2mRmpPagesAndGoesBackWhole() {
        long g1 = 1L << 30;
        Vm vm = create(1);
        vm.addMemslot(0, g1, g1, Set.of(SlotFlag.GMEM), PageSize.SIZE_1G);
        vm.setMemoryAttributes(g1, g1, true);
        finish(vm);
        assertTrue(vm.accept(0, g1 + 6 * M2, 2 * M2, PageSize.SIZE_2M).completed());
        assertEquals(512 * 512, rmp().assignedPages() - 3, "the whole 1G folio, as 512 2M RMP pages");
        assertEquals(2 + 1 + 512, stat(vm, "RMPUPDATE"));
        assertTrue(write(vm, g1 + 6 * M2, 2 * M2, 5).completed());
        assertEquals(2, stat(vm, "pages_2m"), "the RMP caps private leaves at 2M");
        clean(vm);
        vm.punchHole(g1, g1);
        assertEquals(3, rmp().assignedPages(), "the firmware's two pages and the VMSA stay");
        assertEquals(2 + 1 + 512 + 512, stat(vm, "RMPUPDATE"));
        clean(vm);
    }

    @Test
    void vcpusValidateAndTouchMemoryConcurrently() throws Exception {
        int vcpus = 4;
        Vm vm = manager.create("smp", "snp", vcpus, 48, Map.of());
        vm.addMemslot(0, 0, vcpus * 4 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, vcpus * 4 * M2, true);
        finish(vm);
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int v = 0; v < vcpus; v++) {
            int id = v;
            threads.add(new Thread(() -> {
                try {
                    long base = id * 4 * M2;
                    assertTrue(vm.accept(id, base, 2 * M2, PageSize.SIZE_2M).completed());
                    assertTrue(vm.accept(id, base + 2 * M2, 2 * M2, PageSize.SIZE_4K).completed());
                    assertTrue(vm.access(id, Access.WRITE, base, 4 * M2, Encoding.PRIVATE, id + 1).completed());
                    AccessResult r = vm.access(id, Access.READ, base, 4 * M2, Encoding.PRIVATE, 0);
                    assertTrue(r.valuesAgree() && r.value() == id + 1);
                    // and one page of a neighbour's region, validated by its owner in time or not
                    vm.access(id, Access.READ, ((id + 1) % vcpus) * 4 * M2, K4, Encoding.PRIVATE, 0);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads)
            t.join();
        assertEquals(List.of(), failures);
        clean(vm);
        assertEquals(2 * vcpus, stat(vm, "PSMASH"));
    }
}
