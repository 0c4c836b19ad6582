package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.mmu.Invalidation;

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
            onHostAccess.run();
            if (pfn - base() == refused)
                throw new MmuException(Errno.EFAULT, "pfn 0x%x is the guest's", pfn);
        }

        /** Runs inside the punch's invalidation window, at each host write of a punched page. */
        volatile Runnable onHostAccess = () -> {
        };
        /** The page (offset from the folio's head) whose host write this backend refuses, or -1. */
        volatile long refused = -1;

        /** The pfn of the huge folio's head: the first prepare names it (the hooks may not call back into ctx). */
        volatile long base = -1;

        long base() {
            return base;
        }
    }

    private final List<Recording> backends = new CopyOnWriteArrayList<>();

    private CoreVm create() {
        return create(0);
    }

    private CoreVm create(long gpa) {
        return create(gpa, M2);
    }

    private CoreVm create(long gpa, long size) {
        VmCapabilities caps = NestedWalkTest.CAPS;
        CoreVm vm = TestVms.create(caps, 1, List.of(), ctx -> {
            Recording r = new Recording(ctx);
            backends.add(r);
            return r;
        });
        slot(vm, 0, gpa, size, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(gpa, size, true);
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

    /** Punches {@code [gpa, gpa + size)}; at each page it clears, which of {@code gfns} the window covers. */
    private List<String> windowsDuringPunch(CoreVm vm, long gpa, long size, long... gfns) {
        List<String> seen = new CopyOnWriteArrayList<>();
        Invalidation window = vm.mmu.invalidation;
        backends.get(0).onHostAccess = () -> {
            StringBuilder s = new StringBuilder();
            for (long gfn : gfns)
                s.append(s.length() == 0 ? "" : " ").append(window.inProgress(gfn));
            seen.add(s.toString());
        };
        vm.punchHole(gpa, size);
        return seen;
    }

    @Test
    void aPunchOfPartOfAHugeFolioHoldsTheWholeFolioInTheInvalidationWindow() {
        long base = 0x400000; // gfn 0x400: the window is in GFNs, not file indexes
        CoreVm vm = create(base);
        assertTrue(vm.accept(0, base + 0x5000, 0x1000, PageSize.SIZE_4K).completed());
        assertEquals(List.of("false true true false", "false true true false"),
                windowsDuringPunch(vm, base + 0x3000, 0x2000, 0x3ff, 0x400, 0x5ff, 0x600),
                "faults anywhere in the folio retry while its punched pages are cleared; nothing outside it does");
        assertFalse(vm.mmu.invalidation.inProgress(0x400, 0x600), "the window closes with the punch");
        assertTrue(vm.accept(0, base + 0x3000, 0x1000, PageSize.SIZE_4K).completed(), "a punched page faults in again");
        TestVms.assertClean(vm);
        vm.destroy();
    }

    @Test
    void aPunchOfTheFirstFolioOfAFileAtGfnZeroOpensAndClosesItsWindow() {
        CoreVm vm = create();
        assertTrue(vm.accept(0, 0x5000, 0x1000, PageSize.SIZE_4K).completed());
        assertEquals(List.of("true"), windowsDuringPunch(vm, 0, 0x1000, 0), "gfn 0 is a bound page like any other");
        assertFalse(vm.mmu.invalidation.inProgress(0, 0x200));
        vm.destroy();
    }

    @Test
    void aPunchRefusedAtItsFirstPageKeepsThatPageAndTheRestWithTheirData() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        assertTrue(vm.accept(0, 0x3000, 0x2000, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x2000, Encoding.PRIVATE, 0x77).completed());
        g.refused = 3;
        assertThrows(MmuException.class, () -> vm.punchHole(0x3000, 0x2000));
        g.refused = -1;
        for (long gpa : new long[] { 0x3000, 0x4000 }) {
            AccessResult r = vm.access(0, Access.READ, gpa, 0x1000, Encoding.PRIVATE, 0);
            assertTrue(r.completed());
            assertEquals(0x77, r.value(), "gpa 0x" + Long.toHexString(gpa) + " was not cleared");
        }
        TestVms.assertClean(vm);
        vm.destroy();
    }

    @Test
    void aPunchInsideTheThirdFolioHoldsThatFolioAndUnmapsThePunchedPages() {
        long base = 0x400000, third = base + 2 * M2; // file index 0x400: its folio is [0x400, 0x600)
        CoreVm vm = create(base, 3 * M2);
        assertTrue(vm.accept(0, third + 0x3000, 0x3000, PageSize.SIZE_4K).completed());
        assertEquals(List.of("false true true false", "false true true false"),
                windowsDuringPunch(vm, third + 0x3000, 0x2000, 0x7ff, 0x800, 0x9ff, 0xa00));
        for (long gpa : new long[] { third + 0x3000, third + 0x4000 })
            assertFalse(vm.lookup(gpa, org.tdplab.mmu.api.RootKind.DIRECT).map(l -> l.present()).orElse(false),
                    "punched: unmapped");
        assertTrue(vm.lookup(third + 0x5000, org.tdplab.mmu.api.RootKind.DIRECT).orElseThrow().present());
        TestVms.assertClean(vm);
        vm.destroy();
    }
}
