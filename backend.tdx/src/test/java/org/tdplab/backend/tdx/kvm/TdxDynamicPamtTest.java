package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * Dynamic PAMT on KVM's side ({@code tdx_pamt_get/put}, tip x86/tdx 2026-09): every page the module holds at 4K —
 * control pages, S-EPT pages, private pages — has its 2M range's PAMT pair, added with the range's first page and
 * removed with its last; nothing is left after the TD is gone, and a backend swap keeps the counts.
 */
class TdxDynamicPamtTest {
    private static final Map<String, String> DYNAMIC = Map.of("dynamic_pamt", "on");
    private final Tds tds = new Tds();

    private Vm finalized(String name) {
        Vm vm = tds.td(name, 1, 48, 0, DYNAMIC);
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        return vm;
    }

    @Test
    void aPairPerRangeFromTheFirstPageToTheLast() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        long controlPairs = stat(vm, "TDH.PHYMEM.PAMT.ADD");
        assertTrue(controlPairs >= 1, "the TDR, TDCS, TDVPR and TDCX pages need their ranges' pairs first");
        assertNotNull(td.module().view().pamtPair(td.tdrPfn));
        // 4 MiB of 4K pages: they fill at least two more 2M ranges of host memory
        assertDone(vm.accept(0, 0, 4 * M1, PageSize.SIZE_4K));
        long last = vm.lookup(4 * M1 - K4, RootKind.MIRROR).orElseThrow().pfn();
        assertNotNull(td.module().view().pamtPair(last));
        long added = stat(vm, "TDH.PHYMEM.PAMT.ADD");
        assertTrue(added >= controlPairs + 2, "pairs for the guest's ranges: " + added);
        assertEquals(0, stat(vm, "TDH.PHYMEM.PAMT.REMOVE"));
        assertClean(vm); // D2: each range's count is what the module holds there, a pair exactly where it is not 0

        // the private pages go: each range that held only them loses its pair
        assertDone(vm.convert(0, false, 0, 4 * M1));
        assertNull(td.module().view().pamtPair(last));
        // (a range keeps its pair while an S-EPT or control page of the TD is in it)
        assertTrue(stat(vm, "TDH.PHYMEM.PAMT.REMOVE") >= 1, () -> "" + stat(vm, "TDH.PHYMEM.PAMT.REMOVE"));
        assertClean(vm);

        long held = stat(vm, "dynamic_pamt_pairs");
        assertEquals(stat(vm, "TDH.PHYMEM.PAMT.ADD") - stat(vm, "TDH.PHYMEM.PAMT.REMOVE"), held);
        assertTrue(held >= 1, "the control and S-EPT pages' ranges");

        vm.destroy();
        assertEquals(stat(vm, "TDH.PHYMEM.PAMT.ADD"), stat(vm, "TDH.PHYMEM.PAMT.REMOVE"));
        assertEquals(0, stat(vm, "dynamic_pamt_pairs"));
        assertEquals(0, td.framesHeld(), "control and S-EPT pages and every pair back with the host");
        assertTrue(td.module().view().pamtEmpty());
    }

    @Test
    void theCheckerComparesTheCountsWithTheModule() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        assertTrue(td.frames.pamtGet(td.tdrPfn).isOk()); // a get no page of the module stands for
        CheckReport r = vm.check();
        assertTrue(r.violations().stream().anyMatch(v -> v.startsWith("tdx D2: host range 0x"
                + Long.toHexString(td.tdrPfn << 12 & -(2 * M1)))), r.violations()::toString);
        td.frames.pamtPut(td.tdrPfn);
        assertClean(vm);
    }

    @Test
    void aCountNoPageStandsForAndAPutTooMany() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        long far = 1L << 27; // 512 GiB up: a range none of the TD's pages is in, in a directory of its own
        long pairs = stat(vm, "dynamic_pamt_pairs");
        assertTrue(td.frames.pamtGet(far).isOk());
        assertEquals(pairs + 1, stat(vm, "dynamic_pamt_pairs"));
        CheckReport r = vm.check();
        assertTrue(r.violations().contains("tdx D2: host range 0x" + Long.toHexString(far << 12) + ": tdx_pamt_get "
                + "count 1, the module holds 0 4K pages there and a PAMT pair"), r.violations()::toString);
        td.frames.pamtPut(far);
        assertClean(vm);
        td.frames.pamtPut(far); // one put too many: recorded, the count stays at zero
        assertTrue(vm.check().violations().contains("tdx: tdx_pamt_put of host range 0x" + Long.toHexString(far
                << 12) + " whose count is 0"), vm.check().violations()::toString);
        assertEquals(pairs, stat(vm, "dynamic_pamt_pairs"));
    }

    @Test
    void aPairTheModuleRefusesLeavesNothingBehind() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        long held = td.framesHeld(), beyond = 1L << 40; // its HPA has KeyID bits: no such host page
        org.tdplab.mmu.api.backend.HookStatus st = td.frames.pamtGet(beyond);
        assertEquals(Errno.EIO, st.errno());
        assertTrue(st.reason().startsWith("TDH.PHYMEM.PAMT.ADD failed for host range 0x" + Long.toHexString(beyond
                << 12) + ": TDX_OPERAND_INVALID|RCX"), st.reason());
        assertEquals(held, td.framesHeld(), "the pair's pages went back");
        assertClean(vm);
    }

    @Test
    void theFaultingVcpusCacheGivesEachMappingItsPair() {
        Vm vm = tds.td("td", 2, 48, 0, DYNAMIC);
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        TdxVm td = tds.tdx(vm);
        assertEquals(0, stat(vm, "dynamic_pamt_cached_pages"), "control pages take their pairs from the host");
        assertDone(vm.accept(1, 0, K4, PageSize.SIZE_4K));
        // the fault topped up vCPU 1's cache to PT64_ROOT_MAX_LEVEL pairs, then three S-EPT pages and the private page
        // each drew a pair from it (given to the module as a range's pair, or back to the host)
        assertEquals(2, td.pamtCaches.cache(1).count());
        assertEquals(0, td.pamtCaches.cache(0).count(), "vCPU 0 took no fault");
        assertDone(vm.accept(1, K4, K4, PageSize.SIZE_4K));
        assertEquals(8, td.pamtCaches.cache(1).count(), "topped up to 10, one pair drawn for the page");
        assertEquals(8, stat(vm, "dynamic_pamt_cached_pages"));
        assertClean(vm);
        vm.destroy();
        assertEquals(0, td.framesHeld(), "tdx_vcpu_free gives the caches back");
    }

    @Test
    void aGetDrawsTwoPagesAndGivesThemBackWhenTheRangeHasItsPair() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        PamtCaches.Cache cache = td.pamtCaches.cache(0);
        for (long p = cache.take(); p >= 0; p = cache.take())
            td.frames.free(p);
        long held = td.framesHeld(), far = 1L << 27, added = stat(vm, "TDH.PHYMEM.PAMT.ADD");
        assertTrue(td.pamtCaches.topUp(0, 3).isOk());
        assertEquals(6, cache.count());
        assertEquals(held + 6, td.framesHeld());
        assertTrue(td.pamtRefs.get(far, cache).isOk()); // the range's first page: its pair from the cache
        assertEquals(added + 1, stat(vm, "TDH.PHYMEM.PAMT.ADD"));
        assertEquals(4, cache.count());
        assertEquals(held + 6, td.framesHeld());
        assertTrue(td.pamtRefs.get(far + 1, cache).isOk()); // it has its pair: the two pages go back to the host
        assertEquals(added + 1, stat(vm, "TDH.PHYMEM.PAMT.ADD"));
        assertEquals(2, cache.count());
        assertEquals(held + 4, td.framesHeld());
        td.frames.pamtPut(far + 1);
        td.frames.pamtPut(far);
        assertEquals(held + 2, td.framesHeld(), "the pair back with the host, one pair still cached");
        assertClean(vm);
    }

    @Test
    void aCacheGivesItsPagesBackLastInFirstOutAndGrowsPastOneFaultsNeed() {
        PamtCaches.Cache c = new PamtCaches.Cache();
        for (long p = 1; p <= 25; p++)
            c.add(p);
        assertEquals(25, c.count());
        assertEquals(25, c.toArray().length);
        assertEquals(1, c.toArray()[0]);
        for (long p = 25; p >= 1; p--)
            assertEquals(p, c.take());
        assertEquals(-1, c.take());
        assertEquals(0, c.count());
    }

    @Test
    void anEmptyCacheIsAnErrorNamingIt() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        PamtCaches.Cache empty = new PamtCaches.Cache();
        long held = td.framesHeld(), pairs = stat(vm, "dynamic_pamt_pairs");
        org.tdplab.mmu.api.backend.HookStatus st = td.pamtRefs.get(1L << 27, empty);
        assertEquals(Errno.ENOMEM, st.errno()); // the kernel's -ENOMEM; the topup before every fault rules it out
        assertEquals("the vCPU's Dynamic PAMT cache ran dry at host page 0x" + Long.toHexString(1L << 39) + " (the "
                + "topup before the fault did not cover it)", st.reason());
        assertEquals(held, td.framesHeld());
        assertEquals(pairs, stat(vm, "dynamic_pamt_pairs"));
        assertClean(vm);
    }

    @Test
    void aMappingWithoutARunningVcpuIsAKvmBug() {
        Vm vm = finalized("td");
        TdxVm td = tds.tdx(vm);
        long held = td.framesHeld();
        org.tdplab.mmu.api.backend.HookStatus st = td.setExternalSpte(new org.tdplab.mmu.api.backend.SpteChange(
                RootKind.MIRROR, 5, 1, org.tdplab.mmu.api.backend.SpteChange.Entry.ABSENT,
                org.tdplab.mmu.api.backend.SpteChange.Entry.leaf(1L << 27, true, true, true)));
        assertEquals(Errno.EIO, st.errno());
        assertTrue(st.reason().startsWith("KVM_BUG_ON(!vcpu): an S-EPT mapping at gpa 0x5000 without a running vCPU"),
                st.reason());
        assertEquals(held, td.framesHeld());
    }

    @Test
    void busySeamcallsPutWhatTheyGot() {
        Vm vm = tds.td("td", 2, 48, 0, Map.of("dynamic_pamt", "on", "busy_rate", "0.5", "seed", "11"));
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertDone(vm.accept(1, 3 * M1, K4, PageSize.SIZE_4K)); // vCPU 1 is in the TD: the module's locks contend
        assertDone(vm.accept(0, 0, 2 * M1, PageSize.SIZE_4K));
        assertTrue(stat(vm, "TDX_OPERAND_BUSY") > 0, "busy AUGs and SEPT.ADDs, retried");
        assertClean(vm); // D2: each busy SEAMCALL's get was put back
        vm.destroy();
        assertEquals(0, stat(vm, "dynamic_pamt_pairs"));
    }

    @Test
    void aStaticPamtAddsNoPairs() {
        Vm vm = tds.td("td", 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertDone(vm.accept(0, 0, 4 * K4, PageSize.SIZE_4K));
        assertEquals(0, stat(vm, "TDH.PHYMEM.PAMT.ADD"));
        assertNull(tds.tdx(vm).pamtRefs);
    }

    @Test
    void refusedWithTheModuleThatHasNoPamtAdd() {
        MmuException old = assertThrows(MmuException.class, () -> tds.create("a", 1, 48, Map.of("dynamic_pamt", "on",
                "module", "1.0")));
        assertEquals(Errno.EINVAL, old.errno());
        assertTrue(old.getMessage().contains("dynamic_pamt=on needs module=1.5"), old.getMessage());
        // with huge pages since the split cache (TdxHugeDynamicPamtTest)
        assertNotNull(tds.tdx(tds.create("b", 1, 48, Map.of("dynamic_pamt", "on", "huge_pages", "on"))).pamtRefs);
    }

    @Test
    void aSwappedBackendCountsWhatTheModuleHolds() {
        Backend first = new TdxBackend();
        VmManager manager = Standalone.vmManager(first);
        Vm vm = Tds.finalizedTd(manager, "td", 1, DYNAMIC, PageSize.SIZE_4K, 4 * M1);
        assertDone(vm.accept(0, 0, 4 * M1, PageSize.SIZE_4K));
        Standalone.unbind(manager, first);
        Backend second = new TdxBackend();
        Standalone.bind(manager, second, 10, "1.1");
        assertTrue(vm.suspension().isEmpty(), () -> vm.suspension().toString());
        assertEquals(8, stat(vm, "dynamic_pamt_cached_pages"),
                "vCPU 0's cache came along (its last fault drew a pair)");
        assertClean(vm);
        long removed = stat(vm, "TDH.PHYMEM.PAMT.REMOVE");
        assertDone(vm.convert(0, false, 0, 4 * M1));
        assertTrue(stat(vm, "TDH.PHYMEM.PAMT.REMOVE") >= removed + 1, "a restored count reached zero");
        assertClean(vm);
        vm.destroy();
        assertEquals(stat(vm, "TDH.PHYMEM.PAMT.ADD"), stat(vm, "TDH.PHYMEM.PAMT.REMOVE"));
    }
}
