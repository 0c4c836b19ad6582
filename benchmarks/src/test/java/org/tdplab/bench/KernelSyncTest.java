package org.tdplab.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The floor + the kernel's synchronization maps what the floor maps, and takes and drops exactly the kernel's locks. */
class KernelSyncTest {
    @Test
    void aKvmRunTakesSrcuThriceAndLeavesEveryLockAsItFoundIt() {
        KernelSync sync = new KernelSync();
        Floor f = new Floor(1 << 10);
        for (long g = 0; g < 1 << 10; g++)
            sync.run(f, g, g + 7);
        for (long g = 0; g < 1 << 10; g++)
            assertEquals(g + 7, f.touch(g), "the floor's map, inside the synchronization");
        // kvm_arch_vcpu_ioctl_run's srcu_read_lock and the two exits' (the fault's, the run's end); the two entries'
        // srcu_read_unlock and the run's own
        assertEquals(3L << 10, sync.srcuCount(0, false));
        assertEquals(3L << 10, sync.srcuCount(0, true));
        assertEquals(0, sync.kvm.mmuLockCnts, "mmu_lock released");
        assertEquals(0, sync.vcpu.mutexOwner, "vcpu->mutex released");
        assertEquals(KernelSync.OUTSIDE_GUEST_MODE, sync.vcpu.mode, "out of guest mode after the run's exit");
    }

    @Test
    void aPreFaultTakesSrcuOnceAndEntersNoGuest() {
        KernelSync sync = new KernelSync();
        Floor f = new Floor(1 << 10);
        for (long g = 0; g < 1 << 10; g++)
            sync.preFault(f, g, g + 7);
        assertEquals(1L << 10, sync.srcuCount(0, false));
        assertEquals(1L << 10, sync.srcuCount(0, true));
        assertEquals(0, sync.kvm.mmuLockCnts);
        assertEquals(0, sync.vcpu.mutexOwner);
        assertEquals(7 + 1023, f.touch(1023));
    }

    @Test
    void aHeldLockIsNotTakenOver() {
        KernelSync sync = new KernelSync();
        Floor f = new Floor(1);
        sync.vcpu.mutexOwner = 42; // another task's
        assertThrows(IllegalStateException.class, () -> sync.run(f, 0, 1));
        sync.vcpu.mutexOwner = 0;
        sync.kvm.mmuLockCnts = 0x0ff; // a writer waiting (_QW_WAITING) or holding
        assertThrows(IllegalStateException.class, () -> sync.preFault(f, 0, 1));
    }

    @Test
    void eachHowHasItsIoctl() {
        assertEquals("run", KernelSyncBench.ioctlOf("write"));
        assertEquals("run", KernelSyncBench.ioctlOf("workload"));
        assertEquals("prefault", KernelSyncBench.ioctlOf("prefault"));
        assertEquals(null, KernelSyncBench.ioctlOf("read"));
    }
}
