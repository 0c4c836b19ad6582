package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;

/** The TDX invariants catch what they are about: S-EPT and mirror disagreeing, tables freed early, big leaves. */
class TdxChecksTest {
    private final Tds tds = new Tds();

    private Vm image(String name) {
        Vm vm = tds.td(name, 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", (long) (M1), "size", 16384L), Set.of()));
        assertClean(vm);
        return vm;
    }

    private static List<String> violations(Vm vm) {
        return vm.check().violations();
    }

    private static void assertReported(Vm vm, String what) {
        List<String> v = violations(vm);
        assertTrue(v.stream().anyMatch(s -> s.contains(what)), () -> "no '" + what + "' in " + v);
    }

    @Test
    void sEptLeafWithoutMirrorLeaf() {
        Vm vm = image("extra");
        TdxVm t = tds.tdx(vm);
        long hpa = 0x3f_0000L << 12; // a frame the module has never seen
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemPageAug(M1 + 8 * K4, t.tdrHpa(), hpa, null));
        assertReported(vm, "inv 9: S-EPT maps gpa 0x108000 (PENDING) with no mirror leaf");
    }

    @Test
    void mirrorLeafWithoutSEptLeaf() {
        Vm vm = image("missing");
        TdxVm t = tds.tdx(vm);
        // before finalize the module removes a page without blocking: KVM's mirror still maps it
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemPageRemove(M1 + K4, t.tdrHpa(), null));
        assertReported(vm, "inv 9: mirror leaf gfn 0x101");
    }

    @Test
    void blockedEntryOutsideARemoval() {
        Vm vm = image("blocked");
        TdxVm t = tds.tdx(vm);
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemRangeBlock(M1, t.tdrHpa(), null));
        assertReported(vm, "BLOCKED outside a removal");
    }

    @Test
    void tableFreedWhileTheKeyIsAssigned() {
        Vm vm = image("early-free");
        HookStatus s = tds.tdx(vm).freeExternalSpt(RootKind.MIRROR, 0, 1);
        assertTrue(s.isError());
        assertTrue(s.reason().contains("KVM_BUG_ON(is_hkid_assigned)"), s.reason());
        assertReported(vm, "inv 11: mirror table at gfn 0x0 level 1 freed while the HKID is assigned");
    }

    @Test
    void largePrivateLeafIsRefused() {
        Vm vm = image("large");
        HookStatus s = tds.tdx(vm).setExternalSpte(new SpteChange(RootKind.MIRROR, 0x200, 2,
                SpteChange.Entry.ABSENT, SpteChange.Entry.leaf(0x200, true, true, true)));
        assertTrue(s.isError());
        assertTrue(s.reason().contains("PG_LEVEL_4K"), s.reason());
        assertReported(vm, "inv 13");
    }

    @Test
    void removalBelowAFreedTable() {
        Vm vm = image("late-remove");
        assertTrue(tds.tdx(vm).setExternalSpte(new SpteChange(RootKind.MIRROR, 6 * M1 >>> 12, 1,
                SpteChange.Entry.leaf(0x300, true, true, true), SpteChange.Entry.ABSENT)).isError());
        assertReported(vm, "inv 10: the leaf at gfn 0x600");
    }

    @Test
    void guestMemfdFreeingAnOwnedPage() {
        Vm vm = image("gmem");
        long pfn = vm.lookup(M1, RootKind.MIRROR).orElseThrow().pfn();
        tds.tdx(vm).gmemInvalidate(pfn, 0);
        assertReported(vm, "tdx I9: guest_memfd frees page");
    }

    @Test
    void cleanAfterEveryStepOfARealRun() {
        Vm vm = image("clean");
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertClean(vm);
        assertTrue(vm.access(0, Access.READ, M1, 4 * K4, Encoding.PRIVATE, 0).completed());
        assertClean(vm);
        assertTrue(vm.convert(0, false, M1, 2 * K4).completed());
        assertClean(vm);
        assertEquals(TdxAbi.LC_KEYS_CONFIGURED, tds.tdx(vm).module().view().lifecycle());
    }
}
