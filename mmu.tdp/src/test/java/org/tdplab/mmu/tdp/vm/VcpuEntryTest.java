package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.sync.Waits;

/**
 * Entering a vCPU as its ioctl does: {@code vcpu->mutex} is released after every access (another thread can run
 * the same vCPU next), a bugged VM is dead and refuses ioctls with EIO, and a backend's nested walk for a verb
 * leaves no RCU read section open.
 */
class VcpuEntryTest {
    private final AtomicReference<VmContext> ctx = new AtomicReference<>();
    private final List<Long> walks = new ArrayList<>();
    private final VmCapabilities caps = TestVms.ordinary();
    private final CoreVm vm = new CoreVm(4444, "v4444", caps.vmType(), 2, caps, TestVms.MEMORY, new Backend() {
        @Override
        public String vmType() {
            return caps.vmType();
        }

        @Override
        public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
            return caps;
        }

        @Override
        public VmBackend attach(VmContext context, org.tdplab.mmu.api.backend.VerbArgs options) {
            ctx.set(context);
            return new VmBackend() {
                @Override
                public VerbResult invoke(String verb, VerbArgs args) {
                    if (!verb.equals("walk"))
                        throw new MmuException(Errno.ENOTSUP, "no verb '%s'", verb);
                    walks.add(context.nestedWalk(0, args.number("gfn"), false));
                    return VerbResult.NONE;
                }
            };
        }
    }, Map.of(), new CopyOnWriteArrayList<>(), v -> {
    });

    @Test
    void anotherThreadCanRunTheVcpuAfterAnAccess() throws InterruptedException {
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0, 0x1000, Encoding.CURRENT, 3).completed());
        AtomicReference<AccessResult> other = new AtomicReference<>();
        Thread t = new Thread(() -> other.set(vm.access(0, Access.READ, 0, 0x1000, Encoding.CURRENT, 0)));
        t.start();
        t.join(); // would never end if the first access kept vcpu->mutex
        assertEquals(3, other.get().value());
        assertThrows(MmuException.class, () -> vm.access(2, Access.READ, 0, 0x1000, Encoding.CURRENT, 0));
        Thread t2 = new Thread(() -> other.set(vm.access(1, Access.READ, 0, 0x1000, Encoding.CURRENT, 0)));
        t2.start();
        t2.join();
        assertEquals(3, other.get().value(), "a refused access left nothing held");
    }

    @Test
    void aBuggedVmIsDeadAndRefusesIoctls() {
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertFalse(vm.dead());
        assertEquals(Optional.empty(), vm.deadReason());
        ctx.get().bug("hook failed");
        assertTrue(vm.bugged());
        assertTrue(vm.dead());
        assertEquals(Optional.of("hook failed"), vm.bugReason());
        assertEquals(Optional.of("hook failed"), vm.deadReason());
        MmuException e = assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0, 0x1000, Encoding.CURRENT, 0));
        assertEquals(Errno.EIO, e.errno());
    }

    @Test
    void aVerbsNestedWalkLeavesNoRcuSectionOpen() {
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 3);
        assertEquals(VerbResult.NONE, vm.invoke("walk", VerbArgs.none("walk").with("gfn", 5L)));
        assertFalse(vm.mmu.rcu.inReadSection());
        assertTrue(Walk.isTranslated(walks.get(0)));
        vm.invoke("walk", VerbArgs.none("walk").with("gfn", 6L));
        assertFalse(Walk.isTranslated(walks.get(1)), "nothing mapped at gfn 6");
        assertFalse(vm.mmu.rcu.inReadSection());
        MmuException e = assertThrows(MmuException.class, () -> vm.invoke("nope", VerbArgs.none("nope")));
        assertEquals(Errno.ENOTSUP, e.errno());
        Thread t = new Thread(() -> slot(vm, 1, 4 * M2, M2, PageSize.SIZE_4K));
        t.start();
        Waits.join(t); // would never end if the failed verb kept slots_lock
        assertTrue(vm.access(0, Access.WRITE, 4 * M2, 0x1000, Encoding.CURRENT, 1).completed());
    }
}
