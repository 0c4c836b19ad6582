package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.M2;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.assertRead;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * {@code huge_pages=on} with {@code dynamic_pamt=on} (TDX huge pages v3 17-23/24): a 2M private page holds no PAMT
 * pair (its PAMT is the 2M entries); splitting it takes two pairs from the TD's per-VM split cache, which the core
 * tops up without the MMU lock first — one for the new S-EPT page's range when it has none, one that DEMOTE gives
 * the page's own range, whose count becomes 512. Every 4K REMOVE after that puts one; the last takes the pair back.
 */
class TdxHugeDynamicPamtTest {
    private static final Map<String, String> BOTH = Map.of("huge_pages", "on", "dynamic_pamt", "on");
    private final Tds tds = new Tds();

    /** A TD with an 8M guest_memfd slot of 2M folios, all private, finalized. */
    private Vm running(String name, int vcpus) {
        return Tds.finalizedTd(tds.manager, name, vcpus, BOTH, PageSize.SIZE_2M, 8 * M1);
    }

    private static long mirrorPfn(Vm vm, long gpa) {
        return vm.lookup(gpa, RootKind.MIRROR).orElseThrow().pfn();
    }

    @Test
    void a2MPageHoldsNoPairUntilItsSplitGivesItOneFromTheSplitCache() {
        Vm vm = running("split", 2);
        TdxVm td = tds.tdx(vm);
        assertDone(vm.accept(1, 2 * M2, M2, PageSize.SIZE_2M));
        assertEquals(1, stat(vm, "pages_2m"));
        long pfn = mirrorPfn(vm, 2 * M2);
        assertNull(td.module().view().pamtPair(pfn), "a 2M page's PAMT is its 2M entries: no pair");
        assertEquals(0, td.pamtRefs.count(pfn >>> 9));
        long adds = stat(vm, "TDH.PHYMEM.PAMT.ADD"), pairs = stat(vm, "dynamic_pamt_pairs");
        long held = td.framesHeld();
        assertClean(vm);

        assertDone(vm.access(0, Access.WRITE, 2 * M2, M2, Encoding.PRIVATE, 0x5a));
        assertDone(vm.convert(0, false, 2 * M2 + 0x7000, K4)); // BLOCK, TRACK, kick, DEMOTE, then the 4K REMOVE
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.DEMOTE"));
        assertEquals(1, stat(vm, "lpage_splits"));
        long[] pair = td.module().view().pamtPair(pfn);
        assertNotNull(pair, "DEMOTE gave the page's range its pair");
        assertEquals(511, td.pamtRefs.count(pfn >>> 9), "512 at the DEMOTE, less the page converted");
        assertEquals(0, td.pamtCaches.splitCachePages().length, "the split took all four pages it was topped up with");
        // DEMOTE added one pair without PAMT.ADD; the new S-EPT page's range may have needed one through PAMT.ADD
        long viaAdd = stat(vm, "TDH.PHYMEM.PAMT.ADD") - adds;
        assertTrue(viaAdd <= 1, "at most the new S-EPT page's range: " + viaAdd);
        assertEquals(pairs + 1 + viaAdd, stat(vm, "dynamic_pamt_pairs"));
        assertEquals(held + 1 + 2 + 2 * viaAdd, td.framesHeld(), "the new S-EPT page and the pairs the module holds");
        assertRead(vm, 1, 2 * M2 + 0x6000, 0x5a);
        assertRead(vm, 1, 2 * M2 + 0x1ff000, 0x5a);
        assertClean(vm); // D2: the range's count is the 511 4K pages the module holds there, with its pair

        // the rest of the 2M range goes: its last REMOVE takes the pair back
        assertDone(vm.convert(0, false, 2 * M2, M2));
        assertNull(td.module().view().pamtPair(pfn));
        assertEquals(0, td.pamtRefs.count(pfn >>> 9));
        assertClean(vm);
        vm.destroy();
        assertEquals(0, td.framesHeld(), "pairs, S-EPT pages and the split cache back with the host");
        assertTrue(td.module().view().pamtEmpty());
    }

    @Test
    void aSplitCacheThatRanDryIsAnErrorNamingIt() {
        Vm vm = running("dry", 1);
        TdxVm td = tds.tdx(vm);
        assertNull(td.pamtCaches.takeSplitPair(), "nothing topped up yet");
        HookStatus st = td.pamtRefs.getForSplit(0x1234);
        assertEquals(Errno.ENOMEM, st.errno());
        assertTrue(st.reason().contains("split cache ran dry at S-EPT page 0x1234000"), st.reason());
        assertTrue(td.needTopUpExternalSplitCache(TdxVm.PG_LEVEL_2M));
        assertFalse(td.needTopUpExternalSplitCache(TdxVm.PG_LEVEL_4K), "the model splits only 2M leaves");
        assertEquals(HookStatus.OK, td.topUpExternalSplitCache(TdxVm.PG_LEVEL_2M));
        assertFalse(td.needTopUpExternalSplitCache(TdxVm.PG_LEVEL_2M));
        long[] pair = td.pamtCaches.takeSplitPair();
        assertEquals(2, pair.length);
        assertEquals(2, td.pamtCaches.splitCachePages().length, "two of the four left");
        for (long p : pair) // what a split would have given the module: back to the host by hand here
            td.frames.free(p);
        vm.destroy();
        assertEquals(0, td.framesHeld(), "the cache's pages back with the host");
    }

    @Test
    void aWhole2MRemovalTakesNoPairAndPutsNone() {
        Vm vm = running("whole", 1);
        TdxVm td = tds.tdx(vm);
        assertDone(vm.accept(0, 2 * M2, 2 * M2, PageSize.SIZE_2M));
        long adds = stat(vm, "TDH.PHYMEM.PAMT.ADD"), removes = stat(vm, "TDH.PHYMEM.PAMT.REMOVE");
        assertDone(vm.convert(0, false, 2 * M2, 2 * M2));
        assertEquals(0, stat(vm, "TDH.MEM.PAGE.DEMOTE"));
        assertEquals(adds, stat(vm, "TDH.PHYMEM.PAMT.ADD"));
        assertEquals(removes, stat(vm, "TDH.PHYMEM.PAMT.REMOVE"));
        assertEquals(0, td.pamtCaches.splitCachePages().length, "no split: the cache was never topped up");
        assertClean(vm);
    }

    @Test
    void theGuestsAcceptAt4KSplitsAPrefaulted2MLeafThroughTheSplitCacheToo() {
        Vm vm = running("accept", 2);
        TdxVm td = tds.tdx(vm);
        vm.prefault(0, 3 * M2, M2);
        assertEquals(2, vm.lookup(3 * M2, RootKind.MIRROR).orElseThrow().level());
        long pfn = mirrorPfn(vm, 3 * M2);
        assertDone(vm.accept(1, 3 * M2 + 0x3000, K4, PageSize.SIZE_4K)); // the exit carries the 4K accept level
        assertEquals(1, stat(vm, "TDH.MEM.PAGE.DEMOTE"));
        assertEquals(1, vm.lookup(3 * M2 + 0x3000, RootKind.MIRROR).orElseThrow().level());
        assertNotNull(td.module().view().pamtPair(pfn));
        assertEquals(512, td.pamtRefs.count(pfn >>> 9));
        assertClean(vm);
    }

    /** A TDX backend that keeps the TD it attached or restored last. */
    private static final class Capturing extends TdxBackend {
        volatile TdxVm last;

        @Override
        public VmBackend attach(VmContext vm, VerbArgs options) {
            return last = (TdxVm) super.attach(vm, options);
        }

        @Override
        public VmBackend restore(VmContext vm, VerbArgs options, Map<String, Object> snapshot) {
            return last = (TdxVm) super.restore(vm, options, snapshot);
        }
    }

    @Test
    void aSwapCarriesTheSplitCacheAndTheDemotedRangesCount() {
        Capturing first = new Capturing();
        VmManager manager = Standalone.vmManager(first);
        Vm vm = Tds.finalizedTd(manager, "swap", 1, BOTH, PageSize.SIZE_2M, 8 * M1);
        assertDone(vm.accept(0, 2 * M2, M2, PageSize.SIZE_2M));
        assertDone(vm.convert(0, false, 2 * M2 + K4, K4));
        long pfn = vm.lookup(2 * M2, RootKind.MIRROR).orElseThrow().pfn();
        first.last.topUpExternalSplitCache(TdxVm.PG_LEVEL_2M); // what a split's topup leaves
        long cached = stat(vm, "dynamic_pamt_cached_pages");
        assertTrue(cached >= 4, "the split cache's four pages: " + cached);
        Standalone.unbind(manager, first);
        Capturing second = new Capturing();
        Standalone.bind(manager, second, 7, "2.0");
        assertTrue(vm.suspension().isEmpty(), () -> vm.suspension().orElse(""));
        TdxVm after = second.last;
        assertEquals(4, after.pamtCaches.splitCachePages().length);
        assertEquals(cached, stat(vm, "dynamic_pamt_cached_pages"));
        assertEquals(511, after.pamtRefs.count(pfn >>> 9), "recounted from the module's 4K pages");
        assertClean(vm);
        assertDone(vm.convert(0, false, 2 * M2, M2));
        assertNull(after.module().view().pamtPair(pfn));
        vm.destroy();
        assertEquals(0, after.framesHeld());
    }
}
