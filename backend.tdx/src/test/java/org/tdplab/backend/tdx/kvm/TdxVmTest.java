package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.M2;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.assertRead;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.tdx.module.SeptState;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;

/** KVM's TDX side on a real core: building, running, converting and tearing down TDs. */
class TdxVmTest {
    private final Tds tds = new Tds();

    /** Writes each page's GPA into the shared pages of [gpa, gpa+size) (the VMM's image), then makes them private. */
    private static void image(Vm vm, long gpa, long size) {
        assertDone(vm.access(0, Access.WRITE, gpa, size, Encoding.SHARED, Vm.DEFAULT_TOKEN));
    }

    /** The standard build: image at 1M (64K) made private with [0, 4M), measured, finalized. */
    private Vm built(String name, int vcpus, Map<String, String> options) {
        Vm vm = tds.td(name, vcpus, 48, 0, options);
        image(vm, M1, 64 * 1024);
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0x100000L, "size", 65536L), Set.of("measure")));
        assertClean(vm);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertClean(vm);
        return vm;
    }

    @Test
    void buildMeasuredImageThenRun() {
        Vm vm = built("build", 1, Map.of());
        assertEquals(16, stat(vm, "TDH.MEM.PAGE.ADD"));
        assertEquals(16 * 16, stat(vm, "TDH.MR.EXTEND"));
        assertEquals(3, stat(vm, "TDH.MEM.SEPT.ADD"), "PDPT, PD and PT pages under the root");
        assertEquals(1, stat(vm, "TDH.MR.FINALIZE"));
        assertEquals(0, stat(vm, "TDH.MEM.PAGE.AUG"));
        // the guest reads the image without accepting it: PAGE.ADD pages are MAPPED
        for (long gpa = M1; gpa < M1 + 64 * 1024; gpa += K4)
            assertRead(vm, 0, gpa, gpa);
        assertEquals(16, stat(vm, "pages_4k"));
        assertTrue(vm.lookup(M1, RootKind.MIRROR).orElseThrow().present());
        assertEquals(TdxAbi.OP_RUNNABLE, tds.tdx(vm).module().view().opState());
        assertClean(vm);
    }

    @Test
    void unmeasuredImageLeavesMrtdApart() {
        Vm a = built("measured", 1, Map.of());
        Vm b = tds.td("plain", 1, 48, 0, Map.of());
        image(b, M1, 64 * 1024);
        b.setMemoryAttributes(0, 4 * M1, true);
        b.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (M1), "size", 65536L), Set.of()));
        b.invoke("finalize", VerbArgs.none("finalize"));
        assertEquals(0, stat(b, "TDH.MR.EXTEND"));
        assertNotEquals(tds.tdx(a).module().view().mrtd(), tds.tdx(b).module().view().mrtd());
        assertRead(b, 0, M1 + K4, M1 + K4);
        assertClean(b);
    }

    @Test
    void acceptAugmentsZeroesAndMaps() {
        Vm vm = built("accept", 1, Map.of());
        long gpa = 2 * M1;
        assertDone(vm.accept(0, gpa, 64 * 1024, PageSize.SIZE_4K));
        assertEquals(16, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertEquals(4, stat(vm, "TDH.MEM.SEPT.ADD"), "one more PT page for the 2M region");
        assertClean(vm);
        assertRead(vm, 0, gpa, 0);
        assertDone(vm.access(0, Access.WRITE, gpa, 64 * 1024, Encoding.PRIVATE, 0x5eed));
        assertRead(vm, 0, gpa + 3 * K4, 0x5eed);
        // accepting again is done (TDX_PAGE_ALREADY_ACCEPTED) and changes nothing
        assertDone(vm.accept(0, gpa, 64 * 1024, PageSize.SIZE_4K));
        assertRead(vm, 0, gpa, 0x5eed);
        assertEquals(16, stat(vm, "TDH.MEM.PAGE.AUG"));
        // the image pages were PAGE.ADDed: accepting them is a no-op too
        assertDone(vm.accept(0, M1, K4, PageSize.SIZE_4K));
        assertRead(vm, 0, M1, M1);
        assertClean(vm);
    }

    @Test
    void accept2MFallsBackTo4K() {
        Vm vm = built("accept2m", 1, Map.of());
        assertDone(vm.accept(0, M2, M2, PageSize.SIZE_2M));
        assertEquals(512, stat(vm, "TDH.MEM.PAGE.AUG"), "TDX maps private memory at 4K only");
        assertTrue(tds.calls.stream().anyMatch(c -> c.endsWith("TDG.MEM.PAGE.ACCEPT TDX_PAGE_SIZE_MISMATCH|level 1")));
        assertRead(vm, 0, M2 + 100 * K4, 0);
        assertEquals(4, stat(vm, "TDH.MEM.SEPT.ADD"));
        // 2M (the PDE is free: exit), 2M again (PAGE_SIZE_MISMATCH), then per 4K page an exit and a success
        // (the first page was mapped by the first exit): the guest resumes where each exit left it
        assertEquals(2 + 1 + 2 * 511, stat(vm, "TDG.MEM.PAGE.ACCEPT"));
        assertClean(vm);
    }

    @Test
    void anAcceptStoppedByAnExitResumesWhereItWas() {
        Vm vm = built("resume", 1, Map.of());
        long hole = M2 + 100 * K4;
        vm.setMemoryAttributes(hole, K4, false);
        AccessResult r = vm.accept(0, M2, M2, PageSize.SIZE_2M);
        assertEquals(Exit.Reason.MEMORY_FAULT, r.exit().reason());
        assertEquals(hole, r.exit().gpa());
        assertEquals(100, stat(vm, "TDH.MEM.PAGE.AUG"));
        long accepts = stat(vm, "TDG.MEM.PAGE.ACCEPT");
        vm.setMemoryAttributes(hole, K4, true);
        assertDone(vm.accept(0, M2, M2, PageSize.SIZE_2M));
        assertEquals(512, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertEquals(accepts + 2 * 412, stat(vm, "TDG.MEM.PAGE.ACCEPT"), "no page before the hole is accepted again");
        assertRead(vm, 0, hole, 0);
        assertClean(vm);
        // a removal since the exit may have undone the progress: the next accept starts the unit over
        vm.setMemoryAttributes(7 * K4, K4, false);
        assertEquals(7 * K4, vm.accept(0, 0, M2, PageSize.SIZE_2M).exit().gpa());
        assertDone(vm.convert(0, false, 0, K4)); // removes an accepted page
        vm.setMemoryAttributes(0, 8 * K4, true);
        assertDone(vm.accept(0, 0, M2, PageSize.SIZE_2M));
        assertRead(vm, 0, 0, 0);
        assertRead(vm, 0, M1, M1); // the image page was accepted already (PAGE.ADD)
        assertClean(vm);
    }

    @Test
    void conversionPrivateToSharedRemovesThroughBlockTrackRemove() {
        Vm vm = built("convert", 2, Map.of());
        assertDone(vm.accept(0, 2 * M1, 16 * K4, PageSize.SIZE_4K));
        assertDone(vm.access(1, Access.WRITE, 2 * M1, 16 * K4, Encoding.PRIVATE, 0x77));
        long flushes = stat(vm, "remote_tlb_flush");
        assertDone(vm.convert(0, false, 2 * M1, 4 * K4));
        assertEquals(4, stat(vm, "TDH.MEM.RANGE.BLOCK"));
        assertEquals(4, stat(vm, "TDH.MEM.TRACK"));
        assertEquals(4, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertEquals(4, stat(vm, "TDH.PHYMEM.PAGE.WBINVD"));
        assertEquals(0, stat(vm, "TDH.PHYMEM.PAGE.RECLAIM"), "no S-EPT page is freed while the TD lives");
        assertTrue(stat(vm, "remote_tlb_flush") > flushes);
        assertEquals(5, tds.tdx(vm).module().view().tdEpoch(), "one TRACK per removed page");
        assertClean(vm);
        // the shared side starts empty; the private neighbours kept their data
        assertRead(vm, 0, 2 * M1, 0);
        assertRead(vm, 1, 2 * M1 + 4 * K4, 0x77);
        assertFalse(vm.lookup(2 * M1, RootKind.MIRROR).orElseThrow().present());
        // and back: the guest accepts again and finds a zero page
        assertDone(vm.convert(1, true, 2 * M1, 4 * K4));
        assertEquals(16 + 4, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertRead(vm, 1, 2 * M1 + K4, 0);
        assertClean(vm);
    }

    @Test
    void sharedAccessesUseTheDirectRoot() {
        Vm vm = built("shared", 1, Map.of());
        long gpa = 6 * M1; // shared attribute
        assertDone(vm.access(0, Access.WRITE, gpa, 4 * K4, Encoding.SHARED, 0x99));
        assertRead(vm, 0, gpa | (1L << 47), 0x99);
        assertTrue(vm.lookup(gpa, RootKind.DIRECT).orElseThrow().present());
        assertEquals(0, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertClean(vm);
    }

    @Test
    void initMemRegionWritesTheRegionBackAfterAFailure() {
        Vm vm = tds.td("partial", 1, 48, 0, Map.of());
        image(vm, 0, 4 * K4);
        vm.setMemoryAttributes(0, 2 * K4, true);
        MmuException e = assertThrows(MmuException.class, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", (long) (4 * K4)), Set.of())));
        assertEquals(Errno.EINVAL, e.errno(), "the third page is shared");
        assertEquals(Optional.of(new Remaining(2 * K4, 2 * K4)), e.remaining());
        assertEquals(2, stat(vm, "TDH.MEM.PAGE.ADD"));
        vm.setMemoryAttributes(2 * K4, 2 * K4, true);
        assertEquals(Optional.of(new Remaining(4 * K4, 0)), vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (2 * K4), "size", (long) (2 * K4)), Set.of())).remaining());
        assertClean(vm);
    }

    @Test
    void memoryTypeZapRemovesPrivateLeavesAndTheTdLivesOn() {
        Vm vm = built("zap", 1, Map.of());
        long removed = stat(vm, "TDH.MEM.PAGE.REMOVE");
        vm.zapGfnRange(M1, 2 * K4); // two pages of the measured image, mapped by PAGE.ADD
        assertFalse(vm.dead());
        assertEquals(removed + 2, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertTrue(vm.lookup(M1, RootKind.MIRROR).map(i -> !i.present()).orElse(true), "the mirror leaf is gone");
        assertClean(vm);
        // the page comes back PENDING (PAGE.AUG): accepted again, it reads zero
        assertDone(vm.accept(0, M1, K4, PageSize.SIZE_4K));
        assertRead(vm, 0, M1, 0);
        assertClean(vm);
    }

    @Test
    void memoryTypeZapBugsTheTdWithTheSeedDesign() {
        Vm vm = built("zap", 1, Map.of("memtype_zap", "bug"));
        MmuException e = assertThrows(MmuException.class, () -> vm.zapGfnRange(M1, K4));
        assertEquals(Errno.EIO, e.errno());
        assertTrue(vm.bugged());
        MmuException later = assertThrows(MmuException.class, () -> vm.accept(0, 2 * M1, K4, PageSize.SIZE_4K));
        assertEquals(Errno.EIO, later.errno());
    }

    @Test
    void pendingAccessKillsTheTdWithSeptVeDisable() {
        Vm vm = built("pending", 1, Map.of());
        AccessResult r = vm.access(0, Access.READ, 2 * M1, K4, Encoding.PRIVATE, 0);
        assertNotNull(r.exit());
        assertEquals(Exit.Reason.VM_DEAD, r.exit().reason());
        assertTrue(vm.dead());
        assertFalse(vm.bugged(), "kvm_vm_dead, not KVM_BUG_ON");
        assertEquals(Errno.EIO, assertThrows(MmuException.class, () -> vm.setMemoryAttributes(0, K4, true)).errno());
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.AUG"), "KVM mapped it; the guest touched it before accepting");
    }

    @Test
    void pendingAccessIsAVirtualizationExceptionWithoutSeptVeDisable() {
        Vm vm = built("ve", 1, Map.of("sept_ve_disable", "off"));
        AccessResult r = vm.access(0, Access.WRITE, 2 * M1, K4, Encoding.PRIVATE, 5);
        assertEquals("VE", r.exception());
        assertFalse(vm.bugged());
        assertClean(vm);
        assertDone(vm.accept(0, 2 * M1, K4, PageSize.SIZE_4K));
        assertDone(vm.access(0, Access.WRITE, 2 * M1, K4, Encoding.PRIVATE, 5));
        assertRead(vm, 0, 2 * M1, 5);
    }

    @Test
    void kvmRunBeforeFinalizeIsRefusedAndTheTdLives() {
        Vm vm = tds.td("early", 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        List<Runnable> runs = List.of(() -> vm.access(0, Access.READ, 0, K4, Encoding.PRIVATE, 0),
                () -> vm.accept(0, 0, K4, PageSize.SIZE_4K), () -> vm.convert(0, false, 0, K4));
        for (Runnable run : runs) {
            MmuException e = assertThrows(MmuException.class, run::run);
            assertEquals(Errno.EINVAL, e.errno());
            assertTrue(e.getMessage().contains("TD 'early' is not finalized"), e.getMessage());
        }
        assertFalse(vm.bugged());
        assertEquals(0, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertClean(vm);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertDone(vm.accept(0, 0, K4, PageSize.SIZE_4K));
    }

    @Test
    void aPrivateFaultBeforeFinalizeWithNoPageAddSourceIsAKvmBug() {
        Vm vm = tds.td("early", 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.fault(0, 0, 1L << 49); // PFERR_PRIVATE_ACCESS: a fault as a replayed trace hands it in
        assertTrue(vm.bugReason().orElseThrow().contains("page_add_src"), vm.bugReason().orElseThrow());
    }

    @Test
    void gpaw52UsesFiveLevelsAndBit51() {
        long base = 1L << 50;
        Vm vm = tds.td("wide", 1, 52, base, Map.of());
        image(vm, base, 4 * K4);
        vm.setMemoryAttributes(base, 4 * M1, true);
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (base), "size", 16384L), Set.of("measure")));
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertEquals(5, tds.tdx(vm).module().eptLevels());
        assertEquals(4, stat(vm, "TDH.MEM.SEPT.ADD"), "PML4, PDPT, PD and PT pages under the PML5 root");
        assertRead(vm, 0, base + K4, base + K4);
        assertDone(vm.accept(0, base + M2, 2 * K4, PageSize.SIZE_4K));
        assertDone(vm.access(0, Access.WRITE, base + 6 * M1, K4, Encoding.SHARED, 3));
        assertRead(vm, 0, (base + 6 * M1) | (1L << 51), 3);
        // bit 47 is an ordinary address bit now: this is a private GPA outside any memslot
        MmuException e = assertThrows(MmuException.class, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (base | (1L << 51)), "size", 4096L), Set.of())));
        assertEquals(Errno.EINVAL, e.errno());
        assertClean(vm);
        vm.destroy();
        assertEquals(0, tds.tdx(vm).framesHeld());
    }

    @Test
    void teardownReclaimsOnlyAfterTheKeyIsReleased() {
        Vm vm = built("teardown", 2, Map.of());
        assertDone(vm.accept(1, 2 * M1, 8 * K4, PageSize.SIZE_4K));
        long septPages = stat(vm, "TDH.MEM.SEPT.ADD");
        TdxVm t = tds.tdx(vm);
        tds.calls.clear();
        vm.destroy();
        List<String> calls = tds.calls.stream().map(c -> c.split(" ")[1]).toList();
        int freeid = calls.indexOf("TDH.MNG.KEY.FREEID");
        assertTrue(freeid > 0, calls.toString());
        assertEquals(16 + 8, calls.subList(0, freeid).stream().filter("TDH.MEM.PAGE.REMOVE"::equals).count());
        assertTrue(calls.subList(0, freeid).stream().noneMatch("TDH.PHYMEM.PAGE.RECLAIM"::equals));
        long reclaims = calls.stream().filter("TDH.PHYMEM.PAGE.RECLAIM"::equals).count();
        int controlPages = TdxAbi.TDCS_PAGES + 2 * (1 + TdxAbi.VP_TDCX_PAGES) + 1;
        assertEquals(septPages + controlPages, reclaims);
        assertEquals(0, t.framesHeld(), "every frame went back to the host");
        assertTrue(t.module().view().pamtEmpty());
        assertEquals(List.of(), t.recorded, "each S-EPT page freed after the entries below it (inv 10)");
        assertFalse(t.hkidAssigned());
        assertEquals(TdxAbi.LC_NONE, t.module().view().lifecycle());
    }

    @Test
    void initMemRegionRefusesWhatKvmRefuses() {
        Vm vm = tds.td("refuse", 1, 48, 0, Map.of());
        vm.addMemslot(1, 16 * M1, M2, Set.of(), PageSize.SIZE_4K);
        // not private yet
        assertErrno(Errno.EINVAL, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 4096L), Set.of())));
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.setMemoryAttributes(16 * M1, M2, true);
        // no guest_memfd behind the slot
        assertErrno(Errno.EINVAL,
                () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (16 * M1), "size", 4096L), Set.of())));
        // misaligned, empty, shared-bit GPAs, unknown options and flags
        assertErrno(Errno.EINVAL, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0x800L, "size", 4096L), Set.of())));
        assertErrno(Errno.EINVAL, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 0L), Set.of())));
        assertErrno(Errno.EINVAL, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (1L << 47), "size", 4096L), Set.of())));
        assertErrno(Errno.EINVAL,
                () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 4096L, "src", 1L), Set.of())));
        assertErrno(Errno.EINVAL, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 4096L), Set.of("encrypt"))));
        assertErrno(Errno.ENOTSUP, () -> vm.invoke("launch", VerbArgs.none("launch")));
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 8192L), Set.of()));
        assertErrno(Errno.EIO, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 4096L, "size", 4096L), Set.of())));
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertErrno(Errno.EINVAL, () -> vm.invoke("finalize", VerbArgs.none("finalize")));
        assertErrno(Errno.EINVAL, () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0x10000L, "size", 4096L), Set.of())));
        assertFalse(vm.bugged());
        assertClean(vm);
    }

    @Test
    void prefaultOnlyAfterFinalize() {
        Vm vm = tds.td("prefault", 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        assertErrno(Errno.ENOTSUP, () -> vm.prefault(0, 0, K4));
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertEquals(0, vm.prefault(0, 3 * M1, 4 * K4));
        assertEquals(4, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertEquals(SeptState.PENDING,
                TdxAbi.stateOf(tds.tdx(vm).module().view().lookup((3 * M1) >>> 12, 0)));
        assertClean(vm);
    }

    @Test
    void optionsAreValidated() {
        assertErrno(Errno.EINVAL, () -> tds.create("o1", 1, 48, Map.of("module", "2.0")));
        assertErrno(Errno.EINVAL, () -> tds.create("o2", 1, 48, Map.of("sept_ve_disable", "maybe")));
        assertErrno(Errno.EINVAL, () -> tds.create("o3", 1, 48, Map.of("busy_rate", "1.5")));
        assertErrno(Errno.EINVAL, () -> tds.create("o4", 1, 48, Map.of("busy_rate", "x")));
        assertErrno(Errno.EINVAL, () -> tds.create("o5", 1, 48, Map.of("seed", "-3")));
        MmuException e = assertThrows(MmuException.class, () -> tds.create("o6", 1, 48, Map.of("colour", "red")));
        assertTrue(e.getMessage().contains("'colour'") && e.getMessage().contains("busy_rate"), e.getMessage());
        Vm ok = tds.create("o7", 1, 48, Map.of("module", "1.0", "sept_ve_disable", "off", "busy_rate", "0.25",
                "seed", "0x2a"));
        assertEquals(TdxAbi.Version.V1_0, tds.tdx(ok).module().version());
        assertNull(tds.tdx.get("o6"));
    }

    @Test
    void everyLiveTdHoldsAnHkid() {
        List<Vm> vms = new java.util.ArrayList<>();
        for (int i = 0; i < TdxAbi.MAX_HKID; i++)
            vms.add(tds.create("k" + i, 1, 48, Map.of()));
        assertErrno(Errno.ENOSPC, () -> tds.create("one-too-many", 1, 48, Map.of()));
        vms.get(7).destroy();
        Vm again = tds.create("one-more", 1, 48, Map.of());
        assertEquals(tds.tdx(vms.get(7)).module().view().hkid(), 0, "released at teardown");
        assertTrue(tds.tdx(again).module().view().hkid() > 0);
        for (Vm vm : vms)
            vm.destroy();
    }

    @Test
    void busyInjectionRetriesToTheSameState() {
        Map<String, Long> quiet = busyRun("quiet", Map.of());
        Map<String, Long> busy = busyRun("busy", Map.of("busy_rate", "0.4", "seed", "11"));
        Map<String, Long> again = busyRun("again", Map.of("busy_rate", "0.4", "seed", "11"));
        assertEquals(0, quiet.get("TDX_OPERAND_BUSY"));
        assertTrue(busy.get("TDX_OPERAND_BUSY") > 0, busy.toString());
        assertTrue(busy.get("TDH.MEM.PAGE.AUG") > quiet.get("TDH.MEM.PAGE.AUG"));
        assertEquals(busy, again, "the same seed gives the same run");
        for (String s : List.of("pages_4k", "tdp_mmu_pages"))
            assertEquals(quiet.get(s), busy.get(s), s);
    }

    private Map<String, Long> busyRun(String name, Map<String, String> options) {
        Vm vm = built(name, 2, options);
        assertRead(vm, 1, M1, M1); // vCPU 1 stays inside the TD: it is the contender
        assertDone(vm.accept(0, 2 * M1, 64 * K4, PageSize.SIZE_4K));
        assertDone(vm.access(0, Access.WRITE, 2 * M1, 64 * K4, Encoding.PRIVATE, 0x42));
        assertRead(vm, 1, M1, M1);
        assertDone(vm.convert(0, false, 2 * M1, 8 * K4));
        assertRead(vm, 0, 2 * M1 + 8 * K4, 0x42);
        assertRead(vm, 0, 2 * M1, 0);
        assertClean(vm);
        Map<String, Long> stats = vm.stats();
        vm.destroy();
        assertEquals(0, tds.tdx(vm).framesHeld());
        return stats;
    }

    @Test
    void moduleVersion10BuildsAndRunsAlike() {
        Vm vm = built("v10", 1, Map.of("module", "1.0"));
        assertDone(vm.convert(0, true, 6 * M1, 2 * K4));
        assertDone(vm.convert(0, false, 6 * M1, 2 * K4));
        assertClean(vm);
    }

    @Test
    void memslotDeletionAndHolePunchRemovePrivatePages() {
        Vm vm = built("slots", 1, Map.of());
        assertDone(vm.accept(0, 2 * M1, 4 * K4, PageSize.SIZE_4K));
        vm.punchHole(2 * M1, 2 * K4);
        assertEquals(2, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertClean(vm);
        assertDone(vm.accept(0, 2 * M1, 4 * K4, PageSize.SIZE_4K));
        assertRead(vm, 0, 2 * M1, 0);
        vm.deleteMemslot(0);
        assertEquals(2 + 16 + 4, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertEquals(0, stat(vm, "TDH.PHYMEM.PAGE.RECLAIM"));
        assertClean(vm);
        vm.destroy();
        assertEquals(0, tds.tdx(vm).framesHeld());
    }

    @Test
    void conversionBeforeFinalizeNeedsNoTrack() {
        Vm vm = tds.td("prefinal", 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 16384L), Set.of()));
        vm.setMemoryAttributes(0, 2 * K4, false);
        assertEquals(2, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertEquals(2, stat(vm, "TDH.MEM.RANGE.BLOCK"));
        assertEquals(0, stat(vm, "TDH.MEM.TRACK"), "tdx_track does nothing before the TD runs");
        assertClean(vm);
    }

    private static void assertErrno(Errno errno, Runnable r) {
        MmuException e = assertThrows(MmuException.class, r::run);
        assertEquals(errno, e.errno(), e.getMessage());
    }

    private static void assertNotNull(Object o) {
        assertTrue(o != null);
    }
}
