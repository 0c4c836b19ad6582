package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * The guest's conversion ({@code KVM_HC_MAP_GPA_RANGE}) on a VM whose guest accepts its private memory: the
 * backend hears the range before and after the VMM's part, and the guest then accepts what became private as a
 * Linux guest does — aligned 2M runs at 2M, the rest at 4K — stopping where an accept cannot go on.
 */
class ConvertAndAcceptTest {
    /** A guest that accepts through the nested walk and records each accept and conversion hook. */
    static final class Recording implements VmBackend {
        final VmContext ctx;
        final List<String> calls = new CopyOnWriteArrayList<>();
        volatile long fatalAt = -1;

        Recording(VmContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public long accept(int vcpu, long gfn, int level) {
            calls.add(String.format("accept 0x%x %d", gfn, level));
            if (gfn == fatalAt)
                return Walk.fatal();
            return ctx.nestedWalk(vcpu, gfn, true);
        }

        @Override
        public void convertBefore(int vcpu, long gfn, long npages, boolean toPrivate) {
            calls.add(String.format("before 0x%x %d %s", gfn, npages, toPrivate ? "private" : "shared"));
        }

        @Override
        public void convertAfter(int vcpu, long gfn, long npages, boolean toPrivate) {
            calls.add(String.format("after 0x%x %d %s", gfn, npages, toPrivate ? "private" : "shared"));
        }
    }

    /** The calls with an instruction's re-executions (the same call again, after KVM mapped the page) folded. */
    private static List<String> withoutRetries(List<String> calls) {
        List<String> out = new java.util.ArrayList<>();
        for (String c : calls)
            if (out.isEmpty() || !out.get(out.size() - 1).equals(c))
                out.add(c);
        return out;
    }

    private final List<Recording> backends = new CopyOnWriteArrayList<>();

    private final List<String> traced = new CopyOnWriteArrayList<>();

    private CoreVm create() {
        VmCapabilities caps = NestedWalkTest.CAPS;
        CoreVm vm = TestVms.create(caps, 1, List.of(new org.tdplab.mmu.api.MmuObserver() {
            @Override
            public void vmOperation(String name, String operation) {
                traced.add(operation);
            }
        }), ctx -> {
            Recording r = new Recording(ctx);
            backends.add(r);
            return r;
        });
        slot(vm, 0, 0, 4 * M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        return vm;
    }

    @Test
    void aConversionToPrivateIsAcceptedIn2MRunsAndTheRestAt4K() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        AccessResult r = vm.convert(0, true, 0x1ff000, M2 + 0x2000);
        assertTrue(r.completed(), r::toString);
        assertEquals(514, r.pages());
        assertEquals(List.of("before 0x1ff 514 private", "after 0x1ff 514 private", "accept 0x1ff 1",
                "accept 0x200 2", "accept 0x400 1"), withoutRetries(g.calls), "each re-executed after its fault");
        assertTrue(g.ctx.isPrivate(0x300));

        g.calls.clear();
        r = vm.convert(0, false, 0x200000, M2);
        assertTrue(r.completed());
        assertEquals(512, r.pages());
        assertEquals(List.of("before 0x200 512 shared", "after 0x200 512 shared"), g.calls, "no accept of shared");
        assertFalse(g.ctx.isPrivate(0x300));
        vm.destroy();
    }

    @Test
    void anAcceptThatCannotGoOnEndsTheConversionThere() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        g.fatalAt = 0x400;
        AccessResult r = vm.convert(0, true, 0x1ff000, M2 + 0x2000);
        assertFalse(r.completed());
        assertEquals(513, r.pages(), "the 4K page and the 2M run before the page that failed");
        assertTrue(vm.dead(), "a guest that cannot accept its memory is gone");
        vm.destroy();
    }

    /** A conversion is traced as its exit, then each accept the guest made, once done, as a replay redoes them. */
    @Test
    void aConversionIsTracedAsItsExitThenItsAccepts() {
        CoreVm vm = create();
        traced.clear();
        assertTrue(vm.convert(0, true, 0x1ff000, M2 + 0x2000).completed());
        assertEquals(List.of("KVM_HC_MAP_GPA_RANGE vcpu=0 gpa=0x1ff000 size=0x202000 private=1",
                "guest_accept vcpu=0 gpa=0x1ff000 size=0x1000 level=4K",
                "guest_accept vcpu=0 gpa=0x200000 size=0x200000 level=2M",
                "guest_accept vcpu=0 gpa=0x400000 size=0x1000 level=4K"), traced, "a replay redoes each part");
        traced.clear();
        vm.setMemoryAttributes(0x600000, M2, true);
        traced.clear();
        assertTrue(vm.accept(0, 0x600000, M2, PageSize.SIZE_2M).completed());
        assertEquals(List.of("guest_accept vcpu=0 gpa=0x600000 size=0x200000 level=2M"), traced);
        vm.destroy();
    }

    @Test
    void anAlignedRunOfExactly2MIsAcceptedAt2M() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        assertTrue(vm.convert(0, true, M2, M2).completed());
        assertEquals(List.of("before 0x200 512 private", "after 0x200 512 private", "accept 0x200 2"),
                withoutRetries(g.calls));
        vm.destroy();
    }

    @Test
    void a2MAcceptMustBe2MAligned() {
        CoreVm vm = create();
        vm.setMemoryAttributes(0, 2 * M2, true);
        org.tdplab.mmu.api.MmuException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.tdplab.mmu.api.MmuException.class, () -> vm.accept(0, 0x2000, M2, PageSize.SIZE_2M));
        assertEquals(org.tdplab.mmu.api.Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("not 2M-aligned"), e.getMessage());
        vm.destroy();
    }

    @Test
    void anAcceptThatDoneNothingIsNotTraced() {
        CoreVm vm = create();
        Recording g = backends.get(0);
        vm.setMemoryAttributes(0x400000, 0x1000, true);
        g.fatalAt = 0x400;
        traced.clear();
        AccessResult r = vm.accept(0, 0x400000, 0x1000, PageSize.SIZE_4K);
        assertEquals(0, r.pages());
        assertFalse(traced.stream().anyMatch(t -> t.startsWith("guest_accept")), traced.toString());
        vm.destroy();
    }

    /** The VMM's side of the guest's request: to shared punches the private page, to private drops the shared one. */
    @Test
    void aPageConvertedToSharedAndBackHasLostItsPrivateData() {
        CoreVm vm = create();
        assertTrue(vm.convert(0, true, 0x3000, 0x1000).completed());
        assertTrue(vm.access(0, org.tdplab.mmu.api.Access.WRITE, 0x3000, 0x1000, org.tdplab.mmu.api.Encoding.PRIVATE,
                0x77).completed());
        assertTrue(vm.mem.gmemPfnIfPresent(3) >= 0);
        assertTrue(vm.convert(0, false, 0x3000, 0x1000).completed());
        assertEquals(-1, vm.mem.gmemPfnIfPresent(3), "the private page was punched as the page went shared");
        assertTrue(vm.access(0, org.tdplab.mmu.api.Access.WRITE, 0x3000, 0x1000, org.tdplab.mmu.api.Encoding.SHARED,
                0x55).completed());
        assertEquals(0x55, vm.mem.sharedToken(3));
        assertTrue(vm.convert(0, true, 0x3000, 0x1000).completed());
        assertEquals(0, vm.mem.sharedToken(3), "the shared page was dropped as the page went private");
        assertEquals(0, vm.access(0, org.tdplab.mmu.api.Access.READ, 0x3000, 0x1000,
                org.tdplab.mmu.api.Encoding.PRIVATE, 0).value(), "punched when it went shared: a fresh page");
        assertTrue(vm.convert(0, false, 0x3000, 0x1000).completed());
        assertEquals(0, vm.access(0, org.tdplab.mmu.api.Access.READ, 0x3000, 0x1000,
                org.tdplab.mmu.api.Encoding.SHARED, 0).value(), "the shared page was dropped when it went private");
        TestVms.assertClean(vm);
        vm.destroy();
    }
}
