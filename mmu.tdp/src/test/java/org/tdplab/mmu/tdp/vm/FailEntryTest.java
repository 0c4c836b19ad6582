package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * A vCPU the hardware will not enter ({@link VmBackend#failEntry}): a guest access that uses private memory, an accept
 * and a conversion request end at once in {@code KVM_EXIT_FAIL_ENTRY} with the backend's hardware reason, touching
 * nothing (no fault, no mapping, no data, no conversion hook); shared accesses run; the exit is traced; once the
 * backend lets the vCPU enter, the same accesses run and the VM was never harmed. A pre-run refusal comes first.
 */
class FailEntryTest {
    private static final long REASON = 0x8000_0000_0000_0021L;

    /** A guest that accepts through the nested walk; its entry fails while {@link #entering} is false. */
    static final class Gated implements VmBackend {
        final VmContext ctx;
        final List<String> calls = new CopyOnWriteArrayList<>();
        volatile boolean entering, refusing;

        Gated(VmContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public String runRefusal(int vcpu) {
            return refusing ? "not yet" : null;
        }

        @Override
        public Exit failEntry(int vcpu) {
            calls.add("entry " + vcpu);
            return entering ? null : Exit.failEntry(REASON, "vCPU " + vcpu + " cannot enter yet");
        }

        @Override
        public long accept(int vcpu, long gfn, int level) {
            calls.add("accept");
            return ctx.nestedWalk(vcpu, gfn, true);
        }

        @Override
        public void convertBefore(int vcpu, long gfn, long npages, boolean toPrivate) {
            calls.add("convert");
        }
    }

    private final List<Gated> backends = new CopyOnWriteArrayList<>();
    private final List<Exit> traced = new CopyOnWriteArrayList<>();

    private CoreVm create() {
        CoreVm vm = TestVms.create(NestedWalkTest.CAPS, 2, List.of(new MmuObserver() {
            @Override
            public void exit(String name, int vcpu, Exit exit) {
                traced.add(exit);
            }
        }), ctx -> {
            Gated g = new Gated(ctx);
            backends.add(g);
            return g;
        });
        slot(vm, 0, 0, 4 * M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, 2 * M2, true);
        return vm;
    }

    private static void assertFailedEntry(AccessResult r) {
        assertFalse(r.completed());
        assertEquals(0, r.pages(), "nothing of the guest ran");
        assertNull(r.exception());
        assertEquals(Exit.Reason.FAIL_ENTRY, r.exit().reason());
        assertEquals(REASON, r.exit().hardwareEntryFailureReason());
        assertEquals("fail_entry", r.exit().name());
    }

    @Test
    void privateAccessesAcceptsAndConversionsEndInTheFailedEntryTouchingNothing() {
        CoreVm vm = create();
        Gated g = backends.get(0);
        Map<String, Long> before = vm.stats();
        assertFailedEntry(vm.access(1, Access.WRITE, 0x3000, 0x2000, Encoding.PRIVATE, 0x77));
        assertFailedEntry(vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0));
        assertFailedEntry(vm.accept(0, 0, M2, PageSize.SIZE_2M));
        assertFailedEntry(vm.convert(0, false, 0, 0x1000));
        assertEquals(List.of("entry 1", "entry 0", "entry 0", "entry 0"), g.calls, "no accept, no conversion hook");
        assertEquals(before, vm.stats(), "no fault, no mapping");
        assertTrue(g.ctx.isPrivate(0), "the conversion did not happen");
        assertEquals(4, traced.size(), "each failed entry is an exit to userspace");
        assertEquals(REASON, traced.get(0).hardwareEntryFailureReason());
        assertFalse(vm.dead());
        TestVms.assertClean(vm);

        g.entering = true;
        assertTrue(vm.accept(0, 0x2000, 0x2000, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(1, Access.WRITE, 0x3000, 0x1000, Encoding.PRIVATE, 0x77).completed());
        AccessResult r = vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.PRIVATE, 0);
        assertTrue(r.completed());
        assertEquals(0x77, r.value(), "the vCPUs enter now, and the data reads back");
        TestVms.assertClean(vm);
        vm.destroy();
    }

    @Test
    void sharedAccessesRunRegardlessAsTheVmmWritingTheImage() {
        CoreVm vm = create();
        assertTrue(vm.access(0, Access.WRITE, 2 * M2, 0x1000, Encoding.SHARED, 5).completed());
        assertTrue(vm.access(0, Access.WRITE, 2 * M2 + 0x1000, 0x1000, Encoding.CURRENT, 5).completed());
        assertEquals(List.of("entry 0", "entry 0"), backends.get(0).calls, "asked, then shared memory ran");
        assertTrue(traced.isEmpty());
        vm.destroy();
    }

    @Test
    void aPreRunRefusalComesFirst() {
        CoreVm vm = create();
        Gated g = backends.get(0);
        g.refusing = true;
        MmuException e = assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0, 0x1000, Encoding.PRIVATE, 0));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class, () -> vm.accept(0, 0, 0x1000,
                PageSize.SIZE_4K)).errno());
        assertTrue(traced.isEmpty(), "KVM_RUN failed: no exit");
        vm.destroy();
    }

    @Test
    void aBackendThatFailsAnEntryWithAnotherExitIsABackendBug() {
        CoreVm vm = TestVms.create(NestedWalkTest.CAPS, 1, List.of(), ctx -> new VmBackend() {
            @Override
            public Exit failEntry(int vcpu) {
                return new Exit(Exit.Reason.MMIO, 0, 0, false, "wrong");
            }
        });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertThrows(IllegalStateException.class, () -> vm.access(0, Access.READ, 0, 0x1000, Encoding.PRIVATE, 0));
        vm.destroy();
    }
}
