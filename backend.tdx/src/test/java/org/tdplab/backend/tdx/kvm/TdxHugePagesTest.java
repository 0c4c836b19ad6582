package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.M2;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.assertRead;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.tdx.module.SeptState;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.Vm;

/** {@code huge_pages=on}: 2M private leaves as KVM's TDX huge page series maps, splits and removes them. */
class TdxHugePagesTest {
    private static final Map<String, String> HUGE = Map.of("huge_pages", "on");
    private final Tds tds = new Tds();

    /** A TD with an 8M guest_memfd slot of 2M folios, all private, a 16K measured image at 0, finalized. */
    private Vm built(String name, int vcpus, Map<String, String> options) {
        Vm vm = tds.create(name, vcpus, 48, options);
        vm.addMemslot(0, 0, 8 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        assertDone(vm.access(0, Access.WRITE, 0, 16 * 1024, Encoding.SHARED, Vm.DEFAULT_TOKEN));
        vm.setMemoryAttributes(0, 8 * M1, true);
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", 16384L), Set.of("measure")));
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertClean(vm);
        return vm;
    }

    private static int mirrorLevel(Vm vm, long gpa) {
        SpteInfo s = vm.lookup(gpa, RootKind.MIRROR).orElseThrow(() -> new AssertionError("no mirror leaf at " + gpa));
        return s.level();
    }

    @Test
    void theBuildStays4KAndA2MAcceptMapsOne2MLeaf() {
        Vm vm = built("boot", 2, HUGE);
        assertEquals(4, stat(vm, "TDH.MEM.PAGE.ADD"));
        assertEquals(4, stat(vm, "pages_4k"), "TDH.MEM.PAGE.ADD adds 4K pages only");
        assertDone(vm.accept(1, 2 * M2, M2, PageSize.SIZE_2M));
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertEquals(1, stat(vm, "pages_2m"));
        assertEquals(2, mirrorLevel(vm, 2 * M2 + 0x5000));
        assertEquals(SeptState.MAPPED, TdxAbi.stateOf(tds.tdx(vm).module().view().lookup((2 * M2) >>> 12, 1)));
        // accepted pages read zero, written ones read back, through the one 2M translation
        assertRead(vm, 0, 2 * M2 + 0x7000, 0);
        assertDone(vm.access(0, Access.WRITE, 2 * M2, M2, Encoding.PRIVATE, 0x77));
        assertRead(vm, 1, 2 * M2 + 0x1ff000, 0x77);
        assertClean(vm);
    }

    @Test
    void withHugePagesOffEveryPrivateLeafIs4K() {
        Vm vm = built("off", 1, Map.of());
        assertDone(vm.accept(0, 2 * M2, M2, PageSize.SIZE_2M));
        assertEquals(512, stat(vm, "TDH.MEM.PAGE.AUG"));
        assertEquals(0, stat(vm, "pages_2m"));
        assertEquals(1, mirrorLevel(vm, 2 * M2));
        assertClean(vm);
    }

    @Test
    void hugePagesNeedThe15Module() {
        MmuException e = assertThrows(MmuException.class,
                () -> tds.create("old", 1, 48, Map.of("huge_pages", "on", "module", "1.0")));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("huge_pages=on needs module=1.5"), e.getMessage());
        e = assertThrows(MmuException.class, () -> tds.create("bad", 1, 48, Map.of("huge_pages", "yes")));
        assertEquals(Errno.EINVAL, e.errno());
    }

    @Test
    void removingA2MLeafTakesBlockTrackRemoveAnd512Wbinvds() {
        Vm vm = built("remove", 1, HUGE);
        assertDone(vm.accept(0, 2 * M2, M2, PageSize.SIZE_2M));
        long wbinvd = stat(vm, "TDH.PHYMEM.PAGE.WBINVD");
        assertDone(vm.convert(0, false, 2 * M2, M2));
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertEquals(1, stat(vm, "TDH.MEM.RANGE.BLOCK"));
        assertEquals(512, stat(vm, "TDH.PHYMEM.PAGE.WBINVD") - wbinvd);
        assertEquals(0, stat(vm, "pages_2m"));
        assertEquals(0, stat(vm, "TDH.MEM.PAGE.DEMOTE"), "a whole 2M leaf is removed without a split");
        assertRead(vm, 0, 2 * M2 + 0x3000, 0);
        assertClean(vm);
    }

    @Test
    void a4KConversionInsideA2MLeafSplitsItWithABusyRetryAndKeepsTheRest() {
        // every contended module lock is busy: BLOCK and DEMOTE succeed on tdh_do_no_vcpus's retry
        Vm vm = built("split", 2, Map.of("huge_pages", "on", "busy_rate", "1"));
        assertDone(vm.accept(0, 2 * M2, M2, PageSize.SIZE_2M));
        assertDone(vm.access(0, Access.WRITE, 2 * M2, M2, Encoding.PRIVATE, 0x99));
        assertDone(vm.access(1, Access.READ, 2 * M2, K4, Encoding.PRIVATE, 0)); // vCPU 1 stays in the TD
        long busy = stat(vm, "TDX_OPERAND_BUSY");
        assertDone(vm.convert(0, false, 2 * M2 + 0x7000, K4));
        assertEquals(1, tds.calls.stream().filter(c -> c.equals("split TDH.MEM.PAGE.DEMOTE TDX_SUCCESS")).count());
        assertTrue(countBusy("split", "TDH.MEM.RANGE.BLOCK") > 0, "BLOCK lost to the vCPU inside, then retried");
        assertTrue(stat(vm, "TDX_OPERAND_BUSY") > busy, "the split met TDX_OPERAND_BUSY and retried");
        assertEquals(0, stat(vm, "TDH.MEM.RANGE.UNBLOCK"));
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.REMOVE"));
        assertEquals(1, mirrorLevel(vm, 2 * M2 + 0x8000));
        assertEquals(SeptState.NL_MAPPED, TdxAbi.stateOf(tds.tdx(vm).module().view().lookup((2 * M2) >>> 12, 1)));
        assertRead(vm, 1, 2 * M2 + 0x6000, 0x99);
        assertRead(vm, 1, 2 * M2 + 0x1ff000, 0x99);
        assertRead(vm, 0, 2 * M2 + 0x7000, 0); // now a fresh shared page
        assertClean(vm);
    }

    /** How many calls of {@code leaf} came back busy in VM {@code vm}. */
    private long countBusy(String vm, String leaf) {
        return tds.calls.stream().filter(c -> c.startsWith(vm + " " + leaf + " TDX_OPERAND_BUSY")).count();
    }

    @Test
    void teardownRemoves2MLeavesBeforeTheKeyAndGivesEveryFrameBack() {
        Vm vm = built("down", 1, HUGE);
        assertDone(vm.accept(0, 2 * M2, 2 * M2, PageSize.SIZE_2M));
        assertDone(vm.convert(0, false, 3 * M2 + K4, K4)); // one split 2M range too
        TdxVm t = tds.tdx(vm);
        tds.calls.clear();
        vm.destroy();
        long removes = tds.calls.stream().filter(c -> c.startsWith("down TDH.MEM.PAGE.REMOVE")).count();
        assertEquals(1 + 511 + 4, removes, "one 2M leaf, the 511 pieces of the split one, the 4 image pages");
        int firstFreeid = tds.calls.indexOf("down TDH.MNG.KEY.FREEID TDX_SUCCESS");
        int lastRemove = -1;
        for (int i = 0; i < tds.calls.size(); i++)
            if (tds.calls.get(i).startsWith("down TDH.MEM.PAGE.REMOVE"))
                lastRemove = i;
        assertTrue(lastRemove < firstFreeid, "every private leaf goes before the HKID is released");
        assertEquals(0, t.framesHeld());
        assertTrue(t.module().view().pamtEmpty());
    }

    @Test
    void a2MLeafSurvivesABackendSwapAndIsSplitAfterIt() {
        org.tdplab.mmu.api.backend.Backend first = new org.tdplab.backend.tdx.TdxBackend();
        org.tdplab.mmu.api.VmManager manager = org.tdplab.mmu.tdp.vm.Standalone.vmManager(first);
        Vm vm = manager.create("swap", "tdx", 1, 48, HUGE);
        vm.addMemslot(0, 0, 8 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, 8 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertDone(vm.accept(0, 2 * M2, M2, PageSize.SIZE_2M));
        assertDone(vm.access(0, Access.WRITE, 2 * M2, M2, Encoding.PRIVATE, 0x31));
        org.tdplab.mmu.tdp.vm.Standalone.unbind(manager, first);
        org.tdplab.mmu.tdp.vm.Standalone.bind(manager, new org.tdplab.backend.tdx.TdxBackend(), 7, "2.0");
        assertTrue(vm.suspension().isEmpty());
        assertEquals(2, mirrorLevel(vm, 2 * M2));
        assertClean(vm);
        assertDone(vm.accept(0, 2 * M2 + 0x5000, K4, PageSize.SIZE_4K)); // already accepted: no split
        assertDone(vm.convert(0, false, 2 * M2 + 0x5000, K4)); // split by the new backend
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.DEMOTE"));
        assertRead(vm, 0, 2 * M2 + 0x4000, 0x31);
        assertClean(vm);
        vm.destroy();
    }

    @Test
    void theCheckerComparesMirrorAndSeptAt2M() {
        Vm vm = built("checks", 1, HUGE);
        assertDone(vm.accept(0, 2 * M2, M2, PageSize.SIZE_2M));
        assertClean(vm);
        // the module's 2M leaf is demoted behind KVM's back: the mirror still has one 2M leaf there
        TdxVm t = tds.tdx(vm);
        long rcx = (2 * M2) | 1;
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemRangeBlock(rcx, t.tdrHpa(), null));
        t.module().exitAll();
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemTrack(t.tdrHpa()));
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemPageDemote(rcx, t.tdrHpa(), 0x7000_0000L, null));
        java.util.List<String> v = vm.check().violations();
        assertTrue(v.stream().anyMatch(l -> l.startsWith("inv 9: mirror leaf gfn 0x400")), v.toString());
        assertTrue(v.stream().anyMatch(l -> l.startsWith("inv 9: S-EPT maps gpa 0x400000")), v.toString());
    }
}
