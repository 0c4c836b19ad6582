package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.SpteChange.Entry;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * The mirror hooks ({@code tdx_sept_*}) given what KVM never hands them on a correct MMU: each refuses with EIO and
 * the {@code KVM_BUG_ON} it stands for, records the broken invariant where it has one, and issues no SEAMCALL it
 * should not; a SEAMCALL that fails is named with its status and operands.
 */
class TdxSeptHooksTest {
    private final Tds tds = new Tds();

    /** A runnable TD (nothing measured) with [0, 4M) private and one accepted page at 2M. */
    private Vm runnable(String name, Map<String, String> options) {
        Vm vm = tds.td(name, 1, 48, 0, options);
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertDone(vm.accept(0, 2 * M1, K4, PageSize.SIZE_4K));
        return vm;
    }

    private static SpteChange leafRemoval(long gfn, int level, long pfn) {
        return new SpteChange(RootKind.MIRROR, gfn, level, Entry.leaf(pfn, true, true, true), Entry.ABSENT);
    }

    private static void assertEio(HookStatus s, String reason) {
        assertTrue(s.isError(), () -> "not an error: " + s);
        assertEquals(Errno.EIO, s.errno());
        assertTrue(s.reason().contains(reason), () -> reason + " not in " + s.reason());
    }

    private long seamcalls(Vm vm) {
        return tds.calls.stream().filter(c -> c.startsWith(vm.name() + " TDH.")).count();
    }

    @Test
    void aChangeFromAbsentToAbsentIsRefused() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long before = seamcalls(vm);
        assertEio(td.sept.setExternalSpte(new SpteChange(RootKind.MIRROR, 0x300, 1, Entry.ABSENT, Entry.ABSENT)),
                "mirror hook for gfn 0x300: neither the old nor the new SPTE is present");
        assertEio(td.sept.setExternalSpte(new SpteChange(RootKind.MIRROR, 0x300, 2, Entry.table(5), Entry.ABSENT)),
                "mirror hook for gfn 0x300 level 2: not a present leaf becoming non-present");
        assertEquals(before, seamcalls(vm), "no SEAMCALL for a change that makes no sense");
        assertEquals(0, td.installsInFlight.sum());
        assertEquals(0, td.removalsInFlight.get());
        assertClean(vm);
    }

    @Test
    void aPrivateLeafLargerThanTdxMapsIsABug() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long before = seamcalls(vm);
        assertEio(td.sept.setExternalSpte(new SpteChange(RootKind.MIRROR, 0x400, 2, Entry.ABSENT,
                Entry.leaf(0x1000, true, true, true))), "KVM_BUG_ON(level != PG_LEVEL_4K): private leaf at level 2, "
                        + "gfn 0x400");
        assertEquals(List.of("inv 13: a private leaf at level 2 for gfn 0x400 (TDX maps private memory at 4K only "
                + "here)"), td.recorded);
        assertEio(td.sept.setExternalSpte(leafRemoval(0x400, 2, 0x1000)), "KVM_BUG_ON(level != PG_LEVEL_4K): "
                + "removing gfn 0x400 at level 2");
        assertEquals(List.of("inv 13: a private leaf at level 2 for gfn 0x400 (TDX maps private memory at 4K only here)",
                "inv 13: a private leaf at level 2 for gfn 0x400"), td.recorded);
        assertEquals(before, seamcalls(vm));
        td.recorded.clear();
        assertClean(vm);

        Vm huge = runnable("h", Map.of("huge_pages", "on"));
        TdxVm tdh = tds.tdx(huge);
        assertEio(tdh.sept.setExternalSpte(new SpteChange(RootKind.MIRROR, 0x40000, 3, Entry.ABSENT,
                Entry.leaf(0x1000, true, true, true))), "KVM_BUG_ON(level != PG_LEVEL_4K && !RUNNABLE): private leaf "
                        + "at level 3");
        assertEquals("inv 13: a private leaf at level 3 for gfn 0x40000 (TDX maps private memory at 4K or 2M here)",
                tdh.recorded.get(0));
        tdh.recorded.clear();
    }

    @Test
    void aRemovalAfterTheKeyIsReleasedIsABug() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long gfn = 2 * M1 >>> 12;
        long pfn = vm.lookup(2 * M1, RootKind.MIRROR).orElseThrow().pfn();
        td.hkidAssigned = false;
        long before = seamcalls(vm);
        assertEio(td.sept.setExternalSpte(leafRemoval(gfn, 1, pfn)),
                "KVM_BUG_ON(!is_hkid_assigned): removing gfn 0x200 after the HKID was released");
        assertEquals(before, seamcalls(vm), "no BLOCK without a key");
        td.hkidAssigned = true;
        assertClean(vm);
    }

    @Test
    void aFailedBlockIsNamedWithItsStatusAndNothingIsRemoved() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long pfn = vm.lookup(2 * M1, RootKind.MIRROR).orElseThrow().pfn();
        // a 4K removal at a GPA whose S-EPT has no leaf: TDH.MEM.RANGE.BLOCK fails
        long gfn = (2 * M1 >>> 12) + 7;
        HookStatus s = td.sept.setExternalSpte(leafRemoval(gfn, 1, pfn));
        assertEio(s, "SEAMCALL TDH.MEM.RANGE.BLOCK failed for gpa 0x207000: TDX_EPT_ENTRY_STATE_INCORRECT");
        assertEquals(0, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertEquals(0, stat(vm, "TDH.MEM.TRACK"));
        long removals = td.removals.sum();
        assertEquals(0, removals);
        assertTrue(vm.lookup(2 * M1, RootKind.MIRROR).orElseThrow().present());
        // a removal of a leaf whose table the mirror had already freed is recorded (inv 10)
        td.septPages.remove(((2 * M1 >>> 12) & -512L) | 1L << 58);
        td.sept.setExternalSpte(leafRemoval(gfn, 1, pfn));
        assertEquals("inv 10: the leaf at gfn 0x207 is removed after the table holding it was freed",
                td.recorded.get(0));
    }

    @Test
    void freeingATableWhileTheKeyIsAssignedIsABugAndLeaksIt() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long held = td.framesHeld();
        long gfn = 2 * M1 >>> 12;
        HookStatus s = td.sept.freeExternalSpt(RootKind.MIRROR, gfn, 1);
        assertEio(s, "KVM_BUG_ON(is_hkid_assigned): freeing the S-EPT page of gfn 0x200 level 1");
        assertEquals(List.of("inv 11: mirror table at gfn 0x200 level 1 freed while the HKID is assigned"),
                td.recorded);
        assertEquals(0, stat(vm, "TDH.PHYMEM.PAGE.RECLAIM"));
        assertEquals(held, td.framesHeld(), "the page is not freed");
        td.recorded.clear();
        // an install in flight while a table is freed is recorded (inv 12)
        td.installsInFlight.add(1);
        td.sept.freeExternalSpt(RootKind.MIRROR, gfn, 1);
        td.installsInFlight.add(-1);
        assertEquals("inv 12: mirror table 0x200 level 1 freed while an install was in progress",
                td.recorded.get(0));
        td.recorded.clear();
        assertClean(vm);
    }

    @Test
    void afterTheKeyIsReleasedATableWithoutAnSeptPageOrStillInUseIsReported() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long gfn = 2 * M1 >>> 12;
        td.hkidAssigned = false; // as after tdx_mmu_release_hkid
        assertEio(td.sept.freeExternalSpt(RootKind.MIRROR, gfn + 512, 1), "KVM_BUG_ON(!sp->external_spt): no S-EPT "
                + "page for the mirror table at gfn 0x400 level 1");
        assertEquals(0, stat(vm, "TDH.PHYMEM.PAGE.RECLAIM"));
        // the PT page holding the accepted leaf is still in use
        assertTrue(td.sept.freeExternalSpt(RootKind.MIRROR, gfn, 1).isOk());
        assertEquals("inv 10: the S-EPT page of gfn 0x200 level 1 is freed while entries below it are present",
                td.recorded.get(0));
        td.recorded.clear();
        td.hkidAssigned = true;
    }

    @Test
    void aSplitOfAnythingButARunnable2mLeafWithHugePagesIsABug() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        long before = seamcalls(vm);
        SpteChange split = new SpteChange(RootKind.MIRROR, 0x400, 2, Entry.leaf(0x1000, true, true, true),
                Entry.table(0x2000));
        assertEio(td.sept.splitExternalSpt(split), "KVM_BUG_ON(state != RUNNABLE || level != PG_LEVEL_2M): "
                + "splitting gfn 0x400 level 2");
        Vm huge = runnable("h", Map.of("huge_pages", "on"));
        TdxVm tdh = tds.tdx(huge);
        assertEio(tdh.sept.splitExternalSpt(new SpteChange(RootKind.MIRROR, 0x40000, 3,
                Entry.leaf(0x1000, true, true, true), Entry.table(0x2000))), "splitting gfn 0x40000 level 3");
        assertEio(tdh.sept.splitExternalSpt(new SpteChange(RootKind.MIRROR, 0x400, 2, Entry.ABSENT,
                Entry.table(0x2000))), "splitting gfn 0x400 level 2");
        // a 2M leaf that is not in the S-EPT: BLOCK fails, no DEMOTE, no page taken
        long held = tdh.framesHeld();
        assertEio(tdh.sept.splitExternalSpt(split), "SEAMCALL TDH.MEM.RANGE.BLOCK failed for gpa 0x400000");
        assertEquals(0, stat(huge, "TDH.MEM.PAGE.DEMOTE"));
        assertEquals(held, tdh.framesHeld());
        assertEquals(before, seamcalls(vm));
    }

    @Test
    void aRemovedPrivatePageIsWrittenBackAndClearedBeforeItGoesBack() {
        Vm vm = runnable("a", Map.of());
        TdxVm td = tds.tdx(vm);
        assertDone(vm.access(0, org.tdplab.mmu.api.Access.WRITE, 2 * M1, K4, org.tdplab.mmu.api.Encoding.PRIVATE,
                0x77));
        long pfn = vm.lookup(2 * M1, RootKind.MIRROR).orElseThrow().pfn();
        assertEquals(0x77, td.ctx.readToken(pfn));
        long wbinvd = stat(vm, "TDH.PHYMEM.PAGE.WBINVD");
        assertDone(vm.convert(0, false, 2 * M1, K4));
        assertEquals(wbinvd + 1, stat(vm, "TDH.PHYMEM.PAGE.WBINVD"));
        assertEquals(0, td.ctx.readToken(pfn), "tdx_quirk_reset_folio: the page goes back cleared");
        assertEquals(1, td.removals.sum());
        assertClean(vm);
    }

    @Test
    void aRemoved2mPageIsWrittenBackPageByPageAndClearedWhole() {
        Vm vm = tds.create("h", 1, 48, Map.of("huge_pages", "on"));
        vm.addMemslot(0, 0, 8 * M1, Set.of(org.tdplab.mmu.api.SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, 8 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        TdxVm td = tds.tdx(vm);
        long gpa = 2 * Tds.M2;
        assertDone(vm.accept(0, gpa, Tds.M2, PageSize.SIZE_2M));
        assertDone(vm.access(0, org.tdplab.mmu.api.Access.WRITE, gpa, Tds.M2, org.tdplab.mmu.api.Encoding.PRIVATE,
                0x99));
        var leaf = vm.lookup(gpa, RootKind.MIRROR).orElseThrow();
        assertEquals(2, leaf.level(), "a 2M private leaf");
        long wbinvd = stat(vm, "TDH.PHYMEM.PAGE.WBINVD");
        assertDone(vm.convert(0, false, gpa, Tds.M2));
        assertEquals(wbinvd + 512, stat(vm, "TDH.PHYMEM.PAGE.WBINVD"), "one WBINVD per 4K page");
        for (long i = 0; i < 512; i += 73)
            assertEquals(0, td.ctx.readToken(leaf.pfn() + i), "page " + i);
        assertEquals(0, td.ctx.readToken(leaf.pfn() + 511));
        assertClean(vm);
    }
}
