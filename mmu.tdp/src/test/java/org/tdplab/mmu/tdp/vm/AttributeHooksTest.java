package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * {@code KVM_SET_MEMORY_ATTRIBUTES} and the backend: told before ({@code kvm_arch_pre_set_memory_attributes}, which
 * may refuse: then nothing changed) and after ({@code kvm_arch_post_set_memory_attributes}) with the range in GFNs,
 * and not at all when the range has those attributes already; a dead VM's range operations fail with EIO.
 */
class AttributeHooksTest {
    private static final VmCapabilities CAPS = VmCapabilities.ordinary("sw_protected", 48)
            .withPrivateMemory(PrivateSource.ATTRIBUTES, 2);

    private final List<String> calls = new CopyOnWriteArrayList<>();
    private volatile boolean refuse;
    private VmContext ctx;

    /** Runs in {@code kvm_arch_post_set_memory_attributes}, inside the change's invalidation window. */
    private volatile Runnable onPost = () -> {
    };

    private CoreVm create() {
        return create(M2, PageSize.SIZE_4K);
    }

    private CoreVm create(long size, PageSize backing) {
        CoreVm vm = new CoreVm(4246, "attrs", CAPS.vmType(), 1, CAPS, TestVms.MEMORY, TestVms.backend(CAPS, c -> {
            ctx = c;
            return new VmBackend() {
                @Override
                public HookStatus preSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
                    calls.add(String.format("pre 0x%x %d %s", gfn, npages, toPrivate));
                    return refuse ? HookStatus.error(Errno.EPERM, "locked") : HookStatus.OK;
                }

                @Override
                public void postSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
                    calls.add(String.format("post 0x%x %d %s", gfn, npages, toPrivate));
                    onPost.run();
                }
            };
        }), Map.of(), new CopyOnWriteArrayList<>(), v -> {
        });
        slot(vm, 0, 0, size, backing, SlotFlag.GMEM);
        return vm;
    }

    @Test
    void theBackendHearsEachRealChangeBeforeAndAfter() {
        CoreVm vm = create();
        vm.setMemoryAttributes(0x4000, 0x3000, true);
        assertEquals(List.of("pre 0x4 3 true", "post 0x4 3 true"), calls);
        vm.setMemoryAttributes(0x4000, 0x3000, true);
        assertEquals(2, calls.size(), "nothing to change: no hook");
        refuse = true;
        MmuException e = assertThrows(MmuException.class, () -> vm.setMemoryAttributes(0x4000, 0x1000, false));
        assertEquals(Errno.EPERM, e.errno());
        assertTrue(e.getMessage().contains("attributes of gpa=0x4000..0x5000 to shared refused by the backend"),
                e.getMessage());
        assertEquals("pre 0x4 1 false", calls.get(2));
        assertEquals(3, calls.size(), "refused: no post");
        assertTrue(ctx.isPrivate(4), "refused: nothing changed");
        vm.destroy();
    }

    @Test
    void aChangeThatFailsAfterItsZapStillClosesItsInvalidationWindow() {
        CoreVm vm = create();
        assertTrue(vm.access(0, org.tdplab.mmu.api.Access.WRITE, 0x4000, 0x1000,
                org.tdplab.mmu.api.Encoding.CURRENT, 7).completed());
        onPost = () -> {
            throw new IllegalStateException("the backend failed after the zap");
        };
        assertThrows(RuntimeException.class, () -> vm.setMemoryAttributes(0x4000, 0x1000, true));
        assertFalse(vm.mmu.invalidation.inProgress(0x4), "the window of the failed change is still open");
        onPost = () -> {
        };
        // a fault in the range completes instead of retrying forever
        assertTrue(vm.access(0, org.tdplab.mmu.api.Access.WRITE, 0x4000, 0x1000,
                org.tdplab.mmu.api.Encoding.CURRENT, 8).completed());
    }

    @Test
    void aDeadVmsRangeOperationsFailWithEio() {
        CoreVm vm = create();
        ctx.bug("the backend found a bug");
        for (Runnable op : List.<Runnable>of(() -> vm.age(0, 0x1000), () -> vm.testAge(0, 0x1000),
                () -> vm.zapGfnRange(0, 0x1000), () -> vm.recoverNxHugePages()))
            assertEquals(Errno.EIO, assertThrows(MmuException.class, op::run).errno());
        assertFalse(ctx.isPrivate(0));
        vm.destroy();
    }

    /** A fault must not build a huge page across GFNs whose attribute is changing: the window holds the huge page. */
    @Test
    void theWindowOfAChangeInsideAHugePageHoldsThatHugePage() {
        CoreVm vm = create(2 * M2, PageSize.SIZE_2M);
        List<String> seen = new CopyOnWriteArrayList<>();
        onPost = () -> seen.add(String.format("%b %b %b", vm.mmu.invalidation.inProgress(0x1ff),
                vm.mmu.invalidation.inProgress(0x200), vm.mmu.invalidation.inProgress(0x3ff)));
        vm.setMemoryAttributes(0x203000, 0x1000, true);
        assertEquals(List.of("false true true"), seen);
        assertFalse(vm.mmu.invalidation.inProgress(0x200, 0x400), "closed after");
        vm.destroy();
    }
}
