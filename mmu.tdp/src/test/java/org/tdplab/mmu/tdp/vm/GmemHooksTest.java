package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * The guest_memfd folio lifecycle as a backend hears it ({@code gmem_prepare}, {@code gmem_invalidate}, the host's
 * access): a huge folio is prepared once, whole, when first faulted in; a punch of all of it frees it whole; a punch
 * of part of it takes back and clears the punched pages only, each prepared again as a fresh 4K page.
 */
class GmemHooksTest {
    static final class Recording implements VmBackend {
        final VmContext ctx;
        final List<String> calls = new CopyOnWriteArrayList<>();

        Recording(VmContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public long accept(int vcpu, long gfn, int level) {
            return ctx.nestedWalk(vcpu, gfn, true);
        }

        @Override
        public void gmemPrepare(long pfn, long gfn, int order) {
            if (base < 0)
                base = pfn;
            calls.add(String.format("prepare +0x%x gfn 0x%x order %d", pfn - base(), gfn, order));
        }

        @Override
        public void gmemInvalidate(long pfn, int order) {
            calls.add(String.format("invalidate +0x%x order %d", pfn - base(), order));
        }

        @Override
        public void hostAccess(long pfn, boolean write) {
            calls.add(String.format("host %s +0x%x", write ? "write" : "read", pfn - base()));
        }

        /** The pfn of the huge folio's head: the first prepare names it (the hooks may not call back into ctx). */
        volatile long base = -1;

        long base() {
            return base;
        }
    }

    private final List<Recording> backends = new CopyOnWriteArrayList<>();

    private CoreVm create() {
        VmCapabilities caps = NestedWalkTest.CAPS;
        CoreVm vm = TestVms.create(caps, 1, List.of(), ctx -> {
            Recording r = new Recording(ctx);
            backends.add(r);
            return r;
        });
        slot(vm, 0, 0, M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        return vm;
    }

    @Test
    void aHugeFolioIsPreparedOnceAndFreedWhole() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        assertTrue(vm.accept(0, 0x5000, 0x2000, PageSize.SIZE_4K).completed());
        assertEquals(List.of("prepare +0x0 gfn 0x0 order 9"), g.calls, "the whole folio, once");
        g.calls.clear();
        vm.punchHole(0, M2);
        assertEquals(List.of("invalidate +0x0 order 9"), g.calls);
        vm.destroy();
    }

    @Test
    void aPunchOfPartOfAHugeFolioClearsOnlyThePunchedPages() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        assertTrue(vm.accept(0, 0x5000, 0x1000, PageSize.SIZE_4K).completed());
        g.calls.clear();
        vm.punchHole(0x3000, 0x2000);
        assertEquals(List.of("invalidate +0x3 order 0", "host write +0x3", "prepare +0x3 gfn 0x3 order 0",
                "invalidate +0x4 order 0", "host write +0x4", "prepare +0x4 gfn 0x4 order 0"), g.calls);
        assertTrue(vm.lookup(0x5000, org.tdplab.mmu.api.RootKind.DIRECT).isPresent(), "a page not punched stays");
        vm.destroy();
    }
}
