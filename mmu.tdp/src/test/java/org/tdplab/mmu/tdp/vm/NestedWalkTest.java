package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/** {@link VmContext#nestedWalk}: a backend's guest instruction translates its operand, and faults where it was. */
class NestedWalkTest {
    static final VmCapabilities CAPS = VmCapabilities.ordinary("accepting", 48)
            .withPrivateMemory(PrivateSource.ERROR_CODE, 1).withAcceptance();

    /** A guest whose large accepts go page by page (as after a size mismatch), each through the nested walk. */
    static final class PageByPage implements VmBackend {
        final VmContext ctx;
        final List<Long> walked = new ArrayList<>();

        PageByPage(VmContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public long accept(int vcpu, long gfn, int level) {
            long pages = 1L << (9 * (level - 1)), w = 0;
            for (long i = 0; i < pages; i++) {
                w = ctx.nestedWalk(vcpu, gfn + i, true);
                walked.add(gfn + i);
                if (!Walk.isTranslated(w))
                    return w;
            }
            return w;
        }
    }

    /**
     * A guest whose accept is one instruction on its operand's frame (a page validation): it records, for each
     * execution, the frame, whether the vCPU was in guest mode, and whether a flush was still pending for it.
     */
    static final class Validating implements VmBackend {
        final VmContext ctx;
        CoreVm vm;
        final List<String> executed = new ArrayList<>();

        Validating(VmContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public long accept(int vcpu, long gfn, int level) {
            return ctx.executeOnOperand(vcpu, gfn, true, (cpu, operand, walk) -> {
                var v = vm.vcpus.all[cpu];
                executed.add(String.format("gfn 0x%x pfn 0x%x in guest mode %b, flushed %b", operand,
                        Walk.pfn(walk), v.inGuestMode(), vm.vcpus.guestMode.current(v)));
            });
        }
    }

    static CoreVm create(List<PageByPage> out) {
        return create(ctx -> {
            PageByPage p = new PageByPage(ctx);
            out.add(p);
            return p;
        });
    }

    /** A VM of the accepting type whose backend {@code attach} makes. */
    static CoreVm create(java.util.function.Function<VmContext, VmBackend> attach) {
        Backend b = new Backend() {
            @Override
            public String vmType() {
                return "accepting";
            }

            @Override
            public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
                return CAPS;
            }

            @Override
            public VmBackend attach(VmContext ctx, org.tdplab.mmu.api.backend.VerbArgs options) {
                return attach.apply(ctx);
            }
        };
        return new CoreVm(4242, "accepting", "accepting", 1, CAPS, TestVms.MEMORY, b, Map.of(),
                new CopyOnWriteArrayList<>(), vm -> {
                });
    }

    @Test
    void aViolationIsTakenAtTheOperandOfTheLastWalk() {
        List<PageByPage> backends = new ArrayList<>();
        CoreVm vm = create(backends);
        slot(vm, 0, 0, M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertTrue(vm.accept(0, 0, M2, PageSize.SIZE_2M).completed());
        assertEquals(512, vm.stats().get("pages_4k"), "each page was faulted in where the walk missed");
        assertEquals(512, vm.stats().get("pf_fixed"));
        assertEquals(512 + 511 * 512 / 2 + 512, backends.get(0).walked.size(), "re-executed after each fault");
        assertClean(vm);
        vm.destroy();
    }

    @Test
    void aWalkReportsTheLeafOrTheViolation() {
        List<PageByPage> backends = new ArrayList<>();
        CoreVm vm = create(backends);
        slot(vm, 0, 0, M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        VmContext ctx = backends.get(0).ctx;
        assertFalse(Walk.isTranslated(ctx.nestedWalk(0, 3, true)));
        vm.setMemoryAttributes(0, M2, true);
        assertTrue(vm.accept(0, 0x3000, 0x1000, PageSize.SIZE_4K).completed());
        long w = ctx.nestedWalk(0, 3, true);
        assertTrue(Walk.isTranslated(w));
        assertEquals(1, Walk.level(w));
        assertEquals(vm.lookup(0x3000, org.tdplab.mmu.api.RootKind.DIRECT).orElseThrow().pfn(), Walk.pfn(w));
        // a shared page reached by a private operand: the fault exits to userspace at that page
        vm.setMemoryAttributes(0x5000, 0x1000, false);
        var r = vm.accept(0, 0x4000, 0x2000, PageSize.SIZE_4K);
        assertEquals(Exit.Reason.MEMORY_FAULT, r.exit().reason());
        assertEquals(0x5000, r.exit().gpa());
        assertClean(vm);
        vm.destroy();
    }

    /**
     * The instruction runs inside the walk's guest-mode section: a zap's remote flush, which waits for vCPUs in guest
     * mode, cannot complete (and the zapped frame be freed) between the walk and the instruction.
     */
    @Test
    void anInstructionOnItsOperandRunsInTheWalksGuestModeSection() {
        List<Validating> backends = new ArrayList<>();
        CoreVm vm = create(ctx -> {
            Validating v = new Validating(ctx);
            backends.add(v);
            return v;
        });
        Validating guest = backends.get(0);
        guest.vm = vm;
        slot(vm, 0, 0, M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertTrue(vm.accept(0, 0x7000, 0x1000, PageSize.SIZE_4K).completed());
        long pfn = vm.lookup(0x7000, org.tdplab.mmu.api.RootKind.DIRECT).orElseThrow().pfn();
        assertEquals(List.of(String.format("gfn 0x7 pfn 0x%x in guest mode true, flushed true", pfn)),
                guest.executed, "executed once, after the fault mapped the page, in guest mode");
        assertFalse(vm.vcpus.all[0].inGuestMode(), "and left it");
        assertFalse(Walk.isTranslated(guest.ctx.executeOnOperand(0, 9, true, (c, g, w) -> guest.executed.add("9"))),
                "a walk that does not translate");
        assertEquals(1, guest.executed.size(), "runs no instruction");
        assertClean(vm);
        vm.destroy();
    }
}
