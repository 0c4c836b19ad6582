package org.tdplab.backend.snp.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.snp.rmp.Pferr;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.backend.snp.rmp.RmpEntry;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * KVM's SNP side on a real core, seen from the inside: the {@link SnpVm} and the {@link VmContext} of each VM are
 * kept, and the context counts the firmware frames handed out and given back. Covers the RMP #NPF handler's
 * warnings, the teardown's leak report, the checker's R3/R5/R9, the launch's traces and refusals, and the hot swap.
 */
class SnpKvmTest {
    static final long K4 = 0x1000, M2 = 2L << 20;

    final Map<String, SnpVm> snp = new ConcurrentHashMap<>();
    final Map<String, VmContext> ctxs = new ConcurrentHashMap<>();
    /** Firmware frames handed out and not given back, over every VM. */
    final Set<Long> liveFirmwareFrames = Collections.synchronizedSet(new HashSet<>());
    /** When > 0, the n-th next firmware frame handed out is 2M-aligned (frames skipped on the way are kept). */
    volatile int alignedAt;
    final List<Long> hoarded = new ArrayList<>();
    /** When set, the next guest_memfd page looked up is one a running VMRUN uses (RMPUPDATE fails on it). */
    volatile boolean inUseNextGmem;
    volatile long madeInUse = -1;
    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** When set, run once (on another thread, waited for) before the next private operand walk of a guest hook. */
    volatile Runnable beforePrivateOperand;

    final SnpBackend backend = new SnpBackend() {
        @Override
        public VmBackend attach(VmContext vm, VerbArgs options) {
            VmContext counting = counting(vm);
            SnpVm v = (SnpVm) super.attach(counting, options);
            snp.put(vm.name(), v);
            ctxs.put(vm.name(), counting);
            return v;
        }
    };
    final VmManager manager = Standalone.vmManager(backend);

    {
        manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                calls.add(name + ":" + status);
            }
        });
    }

    VmContext counting(VmContext real) {
        return (VmContext) Proxy.newProxyInstance(VmContext.class.getClassLoader(), new Class<?>[] { VmContext.class },
                (p, m, a) -> {
                    if (m.getName().equals("allocFirmwareFrame")) {
                        long pfn = real.allocFirmwareFrame();
                        if (alignedAt > 0 && --alignedAt == 0)
                            while ((pfn & 511) != 0) {
                                hoarded.add(pfn);
                                liveFirmwareFrames.add(pfn);
                                pfn = real.allocFirmwareFrame();
                            }
                        liveFirmwareFrames.add(pfn);
                        return pfn;
                    }
                    if (m.getName().equals("gmemPfn") && inUseNextGmem) {
                        inUseNextGmem = false;
                        long pfn = real.gmemPfn((Long) a[0]);
                        real.hostState(SnpHost.class, () -> null).rmp().setInUse(pfn, true);
                        madeInUse = pfn;
                        return pfn;
                    }
                    if (m.getName().equals("executeOnOperand") && (Boolean) a[2] && beforePrivateOperand != null) {
                        Runnable r = beforePrivateOperand;
                        beforePrivateOperand = null;
                        CompletableFuture.runAsync(r).get(30, TimeUnit.SECONDS);
                    }
                    if (m.getName().equals("freeFirmwareFrame"))
                        assertTrue(liveFirmwareFrames.remove(a[0]), () -> "frame " + a[0] + " freed twice");
                    try {
                        return m.invoke(real, a);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    Vm create(String name, int vcpus) {
        return manager.create(name, "snp", vcpus, 48, Map.of());
    }

    Rmp rmp(Vm vm) {
        return ctxs.get(vm.name()).hostState(SnpHost.class, () -> null).rmp();
    }

    SnpHost host(Vm vm) {
        return ctxs.get(vm.name()).hostState(SnpHost.class, () -> null);
    }

    static void finish(Vm vm) {
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
    }

    static VerbResult launchUpdate(Vm vm, long gpa, long size) {
        return vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", gpa, "size", size),
                Set.of("zero")));
    }

    static List<String> violations(Vm vm) {
        return vm.check().violations();
    }

    static void clean(Vm vm) {
        CheckReport r = vm.check();
        assertTrue(r.ok(), () -> String.join("\n", r.violations()));
    }

    static void assertReports(List<String> violations, String what) {
        assertTrue(violations.stream().anyMatch(v -> v.contains(what)), () -> what + " not in " + violations);
    }

    /** {@link #running(String, int)} with one vCPU. */
    Vm running(String name) {
        return running(name, 1);
    }

    /** A finished VM of {@code vcpus} vCPUs with a 4K-backed guest_memfd slot of 2M at 0, all private. */
    Vm running(String name, int vcpus) {
        Vm vm = create(name, vcpus);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        finish(vm);
        return vm;
    }

    /** Accepts {@code gfn} (the guest validates it) and returns the guest-owned frame behind it. */
    static long acceptOwned(Vm vm, long gfn) {
        assertTrue(vm.accept(0, gfn << 12, K4, PageSize.SIZE_4K).completed());
        return vm.lookup(gfn << 12, RootKind.DIRECT).orElseThrow().pfn();
    }

    /**
     * A vCPU's access fails the RMP check — a write through the shared alias to the guest-owned frame {@code pfn} —
     * so it exits with an RMP fault; the next {@code violationHandled} is its.
     */
    static void rmpCheckFails(SnpVm s, long gfn, long pfn) {
        long w = s.checkAccess(0, gfn, pfn, 1, false, Access.WRITE);
        assertEquals(Walk.KIND_VIOLATION, Walk.kind(w));
        assertTrue((Walk.detail(w) & Pferr.GUEST_RMP) != 0, "an RMP fault");
    }

    void destroyAndCheckEverythingWentBack(Vm vm) {
        Rmp rmp = rmp(vm);
        SnpHost host = host(vm);
        vm.destroy();
        assertEquals(0, rmp.assignedPages());
        assertEquals(List.of(), host.leaks());
        assertEquals(Set.of(), liveFirmwareFrames, "firmware frames not given back");
        assertEquals(List.of(), rmp.check());
    }

    @Test
    void creationAndTeardownAreTracedAndGiveEveryFirmwareFrameBack() {
        Vm vm = create("a", 3);
        // KVM_SEV_INIT2's guest request response page, then the context page (snp_context_create)
        assertEquals(List.of("RMPUPDATE:SUCCESS", "RMPUPDATE:SUCCESS", "SNP_GCTX_CREATE:SUCCESS",
                "SNP_LAUNCH_START:SUCCESS", "SNP_ACTIVATE:SUCCESS"), calls);
        assertEquals(5, liveFirmwareFrames.size(), "the response page, the context page and three VMSAs");
        assertEquals(VerbResult.NONE, vm.invoke("launch_finish", VerbArgs.none("launch_finish")));
        assertEquals(Errno.EIO, assertThrows(MmuException.class, () -> finish(vm)).errno());
        assertEquals("SNP_LAUNCH_FINISH:INVALID_GUEST_STATE", calls.get(calls.size() - 1));
        Map<String, Long> stats = vm.stats();
        assertEquals(0L, stats.get("RMPADJUST"), "the counters are there also when zero");
        assertEquals(0L, stats.get("PSMASH"));
        assertEquals(5L, stats.get("RMPUPDATE"), "the response page, the context page and three VMSAs");
        int before = calls.size();
        destroyAndCheckEverythingWentBack(vm);
        // the three VMSAs back to the hypervisor (sev_free_vcpu), snp_guest_req_cleanup, SNP_DECOMMISSION, then the
        // context page
        assertEquals(List.of("RMPUPDATE:SUCCESS", "RMPUPDATE:SUCCESS", "RMPUPDATE:SUCCESS",
                "SNP_PAGE_RECLAIM:SUCCESS", "RMPUPDATE:SUCCESS", "SNP_DECOMMISSION:SUCCESS",
                "SNP_PAGE_RECLAIM:SUCCESS", "RMPUPDATE:SUCCESS"), calls.subList(before, calls.size()));
    }

    @Test
    void aVmsaIsNever2mAligned() {
        alignedAt = 3; // the first VMSA (after the response and context pages) would be 2M-aligned
        Vm vm = create("a", 2);
        finish(vm);
        Rmp rmp = rmp(vm);
        int asid = snp.get("a").asid();
        List<Long> vmsas = new ArrayList<>();
        rmp.forEachAssigned(asid, pfn -> {
            if (rmp.gpaOf(pfn) == Launch.INITIAL_VMSA_GPA)
                vmsas.add(pfn);
        });
        assertEquals(2, vmsas.size());
        for (long p : vmsas)
            assertNotEquals(0, p & 511, () -> "VMSA at 2M-aligned pfn 0x" + Long.toHexString(p));
        assertEquals(4, liveFirmwareFrames.size() - hoarded.size(), "the aligned frame went back");
        VmContext ctx = ctxs.get("a");
        hoarded.forEach(ctx::freeFirmwareFrame);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void framesLeftAssignedAtTeardownAreLeakedAndReported() {
        Vm vm = running("a");
        Vm other = running("b");
        Rmp rmp = rmp(vm);
        int asid = snp.get("a").asid();
        long far = rmp.frames() - 1, farther = rmp.frames() - 2;
        assertEquals(0, rmp.rmpupdate(far, 0x5000, true, 0, false, asid));
        assertEquals(0, rmp.rmpupdate(farther, 0x7000, true, 0, false, asid));
        // a frame assigned at a GPA whose guest_memfd page is another one
        long gmem = ctxs.get("a").gmemPfn(3);
        long third = rmp.frames() - 3;
        assertEquals(0, rmp.rmpupdate(third, 0x3000, true, 0, false, asid));
        List<String> v = violations(vm);
        assertReports(v, String.format("snp R9: pfn 0x%x is assigned to ASID %d at gpa 0x5000, whose guest_memfd "
                + "page is absent", far, asid));
        assertReports(v, String.format("snp R9: pfn 0x%x is assigned to ASID %d at gpa 0x3000, whose guest_memfd "
                + "page is 0x%x", third, asid, gmem));
        assertEquals(0, rmp.rmpupdate(third, 0, false, 0, false, 0));
        vm.destroy();
        List<String> leaks = host(other).leaks();
        assertEquals(List.of(String.format("VM 'a' (ASID %d): 2 frames stayed guest-assigned after teardown, e.g. "
                + "0x%x, 0x%x", asid, farther, far)), leaks);
        assertReports(violations(other), "snp R9: leaked: VM 'a' (ASID");
        assertEquals(0, rmp.rmpupdate(far, 0, false, 0, false, 0));
        assertEquals(0, rmp.rmpupdate(farther, 0, false, 0, false, 0));
        other.destroy();
        assertEquals(0, rmp.assignedPages());
    }

    @Test
    void rmpFaultsKvmCannotExplainAreWarnedAbout() {
        Vm vm = running("a");
        SnpVm s = snp.get("a");
        long owned = acceptOwned(vm, 7);
        vm.setMemoryAttributes(0x3000, K4, false);
        s.violationHandled(0, 3, Pferr.GUEST_FINAL | Pferr.PRESENT); // not an RMP fault: nothing to do
        clean(vm);
        rmpCheckFails(s, 7, owned); // after the attribute change: KVM's handler sees the state of this exit
        s.violationHandled(0, 3, Pferr.GUEST_RMP);
        assertEquals(List.of("snp: unexpected RMP fault (0x80000000) for shared gpa 0x3000"), violations(vm));
        vm.setMemoryAttributes(8 * M2, K4, true); // private, but no memslot: no guest_memfd page
        s.handleRmpFault(8 * M2 >>> 12, Pferr.GUEST_RMP);
        assertReports(violations(vm), "snp: unexpected RMP fault for gpa 0x1000000: no guest_memfd page");

        // a private page the RMP gives back to the hypervisor behind KVM's back
        Rmp rmp = rmp(vm);
        long pfn = ctxs.get("a").gmemPfn(5);
        long[] saved = rmp.export(-1, pfn);
        assertEquals(0, rmp.rmpupdate(pfn, 0, false, 0, false, 0));
        s.handleRmpFault(5, Pferr.GUEST_RMP);
        assertReports(violations(vm), String.format("snp: unexpected RMP fault for gpa 0x5000: pfn 0x%x is not "
                + "assigned", pfn));
        rmp.restore(saved);

        // an RMP fault on a 4K RMP page was resolved by another CPU's PSMASH already: no PSMASH, no zap
        assertTrue(vm.accept(0, 0x6000, K4, PageSize.SIZE_4K).completed());
        long zaps = vm.stats().getOrDefault("zap_gfn_range", 0L);
        s.handleRmpFault(6, Pferr.GUEST_RMP | Pferr.GUEST_SIZEM);
        assertEquals(0L, vm.stats().get("PSMASH"));
        assertTrue(vm.lookup(0x6000, RootKind.DIRECT).isPresent(), "the mapping stays");
        assertEquals(zaps, vm.stats().getOrDefault("zap_gfn_range", 0L));
        assertEquals(3, violations(vm).size(), violations(vm).toString());
    }

    @Test
    void anRmpFaultWhosePageWasMadeSharedAfterTheExitIsNoAnomaly() {
        Vm vm = running("a");
        SnpVm s = snp.get("a");
        long bits = Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC;
        long owned = acceptOwned(vm, 7);
        rmpCheckFails(s, 7, owned); // gpa 0x3000 private when the vCPU's access failed the RMP check
        vm.setMemoryAttributes(0x3000, K4, false); // the VMM makes it shared before KVM's handler runs
        s.violationHandled(0, 3, bits);
        clean(vm);

        rmpCheckFails(s, 7, owned); // shared already when the vCPU exited: KVM cannot explain it
        s.violationHandled(0, 3, bits);
        assertReports(violations(vm), "snp: unexpected RMP fault (0x580000000) for shared gpa 0x3000");

        // a private GPA whose memslot goes between the exit and the handler: the kernel's "non-private slot" race.
        // The deletion waits for the vCPU to leave guest mode, so it may complete before KVM's exit handler starts:
        // what counts is the memslots at the failed RMP check (soak --type snp, seed 202614909)
        Vm other = running("b");
        SnpVm t = snp.get("b");
        rmpCheckFails(t, 7, acceptOwned(other, 7));
        other.deleteMemslot(0);
        t.violationHandled(0, 5, bits);
        assertEquals(List.of(), violations(other), "the memslot went after the failed check");
        t.rmpFaults.exited(0); // gone already when the access failed the check: KVM cannot explain it
        t.violationHandled(0, 5, bits);
        assertReports(violations(other), "snp: unexpected RMP fault for gpa 0x5000: no guest_memfd page");
    }

    @Test
    void theNestedWalkCheckGivesTheAccessBitsOfAnRmpViolation() {
        Vm vm = running("a");
        SnpVm s = snp.get("a");
        long unassigned = rmp(vm).frames() - 1;
        long w = s.checkAccess(0, 3, unassigned, 1, true, Access.WRITE);
        assertFalse(Walk.isTranslated(w));
        long bits = Walk.detail(w);
        assertEquals(Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC | Pferr.PRESENT | Pferr.USER
                | Pferr.WRITE, bits);
        assertEquals(Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC | Pferr.PRESENT | Pferr.USER
                | Pferr.FETCH, Walk.detail(s.checkAccess(0, 3, unassigned, 1, true, Access.EXEC)));
        assertEquals(Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC | Pferr.PRESENT | Pferr.USER,
                Walk.detail(s.checkAccess(0, 3, unassigned, 1, true, Access.READ)));
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void theCheckerFindsPrivateLeavesTheRmpDoesNotBack() {
        Vm vm = running("a");
        Rmp rmp = rmp(vm);
        int asid = snp.get("a").asid();
        assertTrue(vm.accept(0, 0x3000, K4, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0x3000, K4, Encoding.PRIVATE, 7).completed());
        long pfn = vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().pfn();
        long[] saved = rmp.export(-1, pfn);
        String leaf = String.format("snp R3: private 4K leaf gpa 0x3000 -> pfn 0x%x: ", pfn);

        assertEquals(0, rmp.rmpupdate(pfn, 0x3000, true, 0, false, asid + 1));
        assertReports(violations(vm), leaf + String.format("the frame is not assigned to ASID %d (assigned asid=%d "
                + "gpa=0x3000 4K perms=0x1f)", asid, asid + 1));
        assertEquals(0, rmp.rmpupdate(pfn, 0, false, 0, false, 0));
        assertReports(violations(vm), leaf + String.format("the frame is not assigned to ASID %d", asid));
        assertEquals(0, rmp.rmpupdate(pfn, 0x9000, true, 0, false, asid));
        assertReports(violations(vm), leaf + "the RMP assigns it at gpa 0x9000");
        rmp.restore(saved);
        clean(vm);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void the2mPrivateLeafOfASplitRmpPageIsReported() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, M2, true);
        finish(vm);
        assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        assertTrue(vm.access(0, Access.READ, 0, K4, Encoding.PRIVATE, 0).completed());
        var leaf = vm.lookup(0, RootKind.DIRECT).orElseThrow();
        Rmp rmp = rmp(vm);
        assertEquals(0, rmp.psmash(leaf.pfn())); // behind KVM's back: the 2M leaf stays
        assertReports(violations(vm), String.format("snp R3: private 2M leaf gpa 0x0 -> pfn 0x%x: the RMP page is "
                + "smaller (4K)", leaf.pfn()));
        vm.zapGfnRange(0, M2);
        clean(vm);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void theCheckerFindsASharedHugeLeafOverAnAssignedFrame() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, 2 * M2, Set.of(), PageSize.SIZE_2M);
        finish(vm);
        assertTrue(vm.access(0, Access.WRITE, M2, M2, Encoding.SHARED, 3).completed());
        var leaf = vm.lookup(M2, RootKind.DIRECT).orElseThrow();
        assertEquals(2, leaf.level(), "a 2M shared leaf");
        Rmp rmp = rmp(vm);
        int asid = snp.get("a").asid();
        assertEquals(0, rmp.rmpupdate(leaf.pfn() + 5, 0x77000, true, 0, false, asid));
        assertEquals(List.of(String.format("snp R5: shared leaf gpa 0x%x -> pfn 0x%x maps a frame assigned to ASID "
                + "%d at gpa 0x77000", M2 + 5 * K4, leaf.pfn() + 5, asid), String.format("snp R9: pfn 0x%x is "
                + "assigned to ASID %d at gpa 0x77000, whose guest_memfd page is absent", leaf.pfn() + 5, asid)),
                violations(vm));
        assertEquals(0, rmp.rmpupdate(leaf.pfn() + 5, 0, false, 0, false, 0));
        assertEquals(0, rmp.rmpupdate(leaf.pfn() + 511, 0, true, 0, false, 0));
        assertEquals(List.of(String.format("snp R5: shared leaf gpa 0x%x -> pfn 0x%x maps a frame assigned to the "
                + "AMD-SP", M2 + 511 * K4, leaf.pfn() + 511)), violations(vm));
        assertEquals(0, rmp.rmpupdate(leaf.pfn() + 511, 0, false, 0, false, 0));
        clean(vm);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void hostWritesGoThroughOnlyWhereTheRmpAllows() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        launchUpdate(vm, 0, K4);
        // the launch ran on this thread: a page it did not populate is still prepared on first use
        MmuException e = assertThrows(MmuException.class, () -> vm.invoke("host_write", new VerbArgs("host_write",
                Map.of("gpa", 0x8000L, "value", 9L), Set.of())));
        assertEquals(Errno.EFAULT, e.errno());
        assertTrue(e.reason().contains(String.format("ASID %d at gpa 0x8000", snp.get("a").asid())), e.reason());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class, () -> vm.invoke("host_write", new VerbArgs(
                "host_write", Map.of("gpa", 0x8800L), Set.of()))).errno());
        finish(vm);
        // a page the RMP gives back to the hypervisor can be written by the host, and the guest sees it
        Rmp rmp = rmp(vm);
        long pfn = ctxs.get("a").gmemPfn(9);
        long[] saved = rmp.export(-1, pfn);
        assertEquals(0, rmp.rmpupdate(pfn, 0, false, 0, false, 0));
        assertEquals(VerbResult.NONE, vm.invoke("host_write", new VerbArgs("host_write", Map.of("gpa", 0x9000L,
                "value", 0x77L), Set.of())));
        assertEquals(0x77L, ctxs.get("a").readToken(pfn));
        rmp.restore(saved);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void launchUpdateRefusalsNameThePage() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2 - 2 * K4, true);
        MmuException e = assertThrows(MmuException.class, () -> launchUpdate(vm, -K4, 2 * K4));
        assertEquals("snp.launch_update: gpa=0xfffffffffffff000 size=0x2000 wraps or lies beyond the VM's GPA "
                + "space (0x1000000000000)", e.reason());
        e = assertThrows(MmuException.class, () -> launchUpdate(vm, (1L << 48) - K4, K4));
        assertEquals("snp.launch_update: no guest_memfd memslot backs gpa=0xfffffffff000", e.reason(),
                "the last page of the GPA space is inside it");
        e = assertThrows(MmuException.class, () -> launchUpdate(vm, (1L << 48) - K4, 2 * K4));
        assertTrue(e.reason().contains("wraps or lies beyond"), e.reason());
        e = assertThrows(MmuException.class, () -> launchUpdate(vm, M2 - K4, K4));
        assertEquals(Errno.EIO, e.errno());
        assertEquals("snp.launch_update: gpa=0x1ff000 is shared; set the range private (KVM_SET_MEMORY_ATTRIBUTES) "
                + "before launching it (kvm_gmem_populate: EINVAL)", e.reason());
        launchUpdate(vm, 0x4000, K4);
        e = assertThrows(MmuException.class, () -> launchUpdate(vm, 0x4000, K4));
        assertTrue(e.reason().startsWith(String.format("snp.launch_update: gpa=0x4000 (pfn 0x%x) is private in the "
                + "RMP already", ctxs.get("a").gmemPfn(4))), e.reason());
        // a frame a running VMRUN uses cannot be made private: RMPUPDATE fails
        inUseNextGmem = true;
        e = assertThrows(MmuException.class, () -> launchUpdate(vm, 0x6000, K4));
        assertEquals(String.format("snp.launch_update: RMPUPDATE of pfn 0x%x (gpa 0x6000) failed "
                + "(kvm_gmem_populate: EIO)", madeInUse), e.reason());
        long pfn = madeInUse;
        assertTrue(calls.contains("RMPUPDATE:FAIL_INUSE"), calls.toString());
        rmp(vm).setInUse(pfn, false);
        finish(vm);
        calls.clear();
        assertEquals(Errno.EIO, assertThrows(MmuException.class, () -> launchUpdate(vm, 0x7000, K4)).errno());
        assertEquals(List.of("SNP_LAUNCH_UPDATE:INVALID_GUEST_STATE"), calls);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void preFaultingIsAllowedOnceTheLaunchIsFinished() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        assertThrows(MmuException.class, () -> vm.prefault(0, 0, K4));
        finish(vm);
        vm.prefault(0, 0, K4);
        assertTrue(vm.lookup(0, RootKind.DIRECT).isPresent());
        destroyAndCheckEverythingWentBack(vm);
    }

    /**
     * A launch page's check and RMPUPDATE run holding guest_memfd's invalidation lock, as a late preparation of its
     * folio does: else a fault could make the folio's range a 2M RMP page between them (soak --type snp, seed 11098).
     */
    @Test
    void aLaunchUpdateWaitsWhileALatePreparationHoldsItsFolio() throws Exception {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, M2, true);
        launchUpdate(vm, 0, K4); // the 2M folio, its other pages unprepared
        GmemHooks gmem = snp.get("a").gmem();
        assertTrue(gmem.lockUnlessInvalidatedSince(gmem.invalidations()), "held as a late preparation holds it");
        CompletableFuture<VerbResult> launch = CompletableFuture.supplyAsync(() -> launchUpdate(vm, K4, K4));
        try {
            while (!gmem.invalidationLockWaited()) {
                assertFalse(launch.isDone(), "the page was launched while a preparation held its folio");
                Thread.onSpinWait();
            }
        } finally {
            gmem.unlockInvalidations();
        }
        launch.get(30, TimeUnit.SECONDS);
        assertEquals(1, rmp(vm).privateLevel(ctxs.get("a").gmemPfn(1)), "launched at 4K once the lock was free");
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void aSwappedBackendKeepsTheCountersTheWarningsAndTheUnpreparedPages() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, M2, true);
        launchUpdate(vm, 0, 2 * K4); // the rest of the 2M folio stays unprepared
        finish(vm);
        vm.setMemoryAttributes(M2 - K4, K4, false);
        rmpCheckFails(snp.get("a"), 0x10, acceptOwned(vm, 0x10));
        snp.get("a").violationHandled(0, (M2 - K4) >>> 12, Pferr.GUEST_RMP); // a warning to carry over
        Map<String, Long> before = vm.stats();
        List<String> warnings = violations(vm);
        assertEquals(1, warnings.size(), warnings.toString());

        Standalone.unbind(manager, backend);
        SnpBackend next = new SnpBackend();
        Standalone.bind(manager, next, 10, "1.1");
        assertTrue(vm.suspension().isEmpty());
        for (String k : List.of("RMPUPDATE", "PSMASH", "PVALIDATE", "RMPADJUST"))
            assertEquals(before.get(k), vm.stats().get(k), k);
        assertEquals(warnings, violations(vm), "the warning survives the swap");
        // a page of the launched folio outside the launched range is prepared when first faulted in, at 4K
        long updates = vm.stats().get("RMPUPDATE");
        assertTrue(vm.accept(0, 0x5000, K4, PageSize.SIZE_4K).completed());
        assertEquals(updates + 1, vm.stats().get("RMPUPDATE"), "one 4K RMPUPDATE for the late-prepared page");
        assertTrue(vm.access(0, Access.WRITE, 0x5000, K4, Encoding.PRIVATE, 4).completed());
        assertEquals(1, rmp(vm).privateLevel(ctxs.get("a").gmemPfn(5)));
        assertEquals(warnings, violations(vm));
        vm.destroy();
        assertEquals(0, rmp(vm).assignedPages(), "the restored VM gives back its context page too");
    }

    @Test
    void aPageTheHostCannotTakeBackAtInvalidationIsWarnedAbout() {
        Vm vm = running("a");
        assertTrue(vm.accept(0, 0x3000, K4, PageSize.SIZE_4K).completed());
        long pfn = vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().pfn();
        Rmp rmp = rmp(vm);
        rmp.setInUse(pfn, true); // a running VMRUN uses it: RMPUPDATE fails
        vm.punchHole(0, M2);
        assertEquals(List.of(String.format("snp: gmem invalidate: RMPUPDATE of pfn 0x%x to shared failed", pfn)),
                violations(vm).stream().filter(v -> v.startsWith("snp:")).toList());
        assertTrue(rmp.isAssigned(pfn), "the page stays the guest's");
        assertTrue(calls.contains("RMPUPDATE:FAIL_INUSE"));
        rmp.setInUse(pfn, false);
        assertEquals(0, rmp.rmpupdate(pfn, 0, false, 0, false, 0));
        vm.destroy();
        assertEquals(0, rmp.assignedPages());
    }

    @Test
    void aFolioALaunchAllocatedButDidNotPopulateIsPreparedAt2mOnFirstUse() {
        Vm vm = create("a", 1);
        vm.addMemslot(0, 0, 2 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, M2, true);
        // the launch runs into the second folio, which is shared by attribute: it is allocated, not populated
        VerbResult r = launchUpdate(vm, M2 - K4, 2 * K4);
        assertEquals(new org.tdplab.mmu.api.Remaining(M2, K4), r.remaining().orElseThrow());
        vm.setMemoryAttributes(M2, M2, true);
        finish(vm);
        long updates = vm.stats().get("RMPUPDATE");
        assertTrue(vm.accept(0, M2, M2, PageSize.SIZE_2M).completed());
        assertEquals(updates + 1, vm.stats().get("RMPUPDATE"), "one 2M RMPUPDATE for the whole folio");
        long pfn = ctxs.get("a").gmemPfn(M2 >>> 12);
        assertEquals(2, rmp(vm).privateLevel(pfn));
        assertTrue(vm.access(0, Access.WRITE, M2, M2, Encoding.PRIVATE, 6).completed());
        assertEquals(2, vm.lookup(M2, RootKind.DIRECT).orElseThrow().level(), "a 2M private leaf");
        assertEquals(0L, vm.stats().get("PSMASH"));
        clean(vm);
        destroyAndCheckEverythingWentBack(vm);
    }

    @Test
    void aConversionToSharedRescindsOnlyWhatIsPrivate() {
        Vm vm = running("a");
        assertTrue(vm.accept(0, 0x5000, 3 * K4, PageSize.SIZE_4K).completed());
        assertTrue(vm.convert(0, false, 0x6000, K4).completed());
        long p = vm.stats().get("PVALIDATE");
        calls.clear();
        assertTrue(vm.convert(0, false, 0x5000, 3 * K4).completed());
        assertEquals(p + 2, vm.stats().get("PVALIDATE"), "the shared page in the middle is skipped");
        assertEquals(2, calls.stream().filter(c -> c.equals("PVALIDATE:SUCCESS")).count(), calls.toString());
        clean(vm);
        destroyAndCheckEverythingWentBack(vm);
    }

    /**
     * The VMM makes a page shared and another vCPU maps it shared while the guest is about to rescind it: the
     * guest's PVALIDATE(0), an encrypted access, meets the shared frame's RMP entry. KVM's fault comes first
     * ({@code npf_interception}): a private access to a shared GPA exits to userspace, and the RMP handler never
     * runs; the model took the RMP handler's path, which warned of an RMP fault for a shared GPA and let the guest
     * re-execute into the same fault ("the guest would spin", soak --type snp, seed 15800).
     */
    @Test
    void aRescindOfAPageMadeSharedAndMappedMeanwhileExitsInsteadOfSpinning() {
        Vm vm = running("a", 2);
        assertTrue(vm.accept(0, 0x5000, K4, PageSize.SIZE_4K).completed());
        beforePrivateOperand = () -> {
            vm.setMemoryAttributes(0x5000, K4, false);
            assertTrue(vm.access(1, Access.READ, 0x5000, K4, Encoding.SHARED, 0).completed());
        };
        vm.convert(0, false, 0x5000, K4);
        assertEquals(null, beforePrivateOperand, "the VMM's change ran");
        clean(vm);
        destroyAndCheckEverythingWentBack(vm);
    }
}
