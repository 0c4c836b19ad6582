package org.tdplab.mmu.tdp.vm;

import java.util.function.Function;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mmu.Stats;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.vcpu.GuestMode;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** One VM's vCPUs and the guest-mode handshake that flushes and kicks wait on. */
final class Vcpus {
    final Vcpu[] all;
    final GuestMode guestMode;

    Vcpus(int n, TablePool pool, Stats stats) {
        all = new Vcpu[n];
        for (int i = 0; i < n; i++)
            all[i] = new Vcpu(i, pool, stats.vcpuCells());
        guestMode = new GuestMode(all);
    }

    int count() {
        return all.length;
    }

    /** The vCPU an ioctl names; EINVAL for one the VM does not have. */
    Vcpu get(int index, String vmName) {
        if (index < 0 || index >= all.length)
            throw new MmuException(Errno.EINVAL, "vcpu=%d: VM '%s' has vCPUs 0..%d", index, vmName, all.length - 1);
        return all[index];
    }

    /** Runs {@code op} on vCPU {@code v} under {@code vcpu->mutex} (reentrant: hooks may call back in). */
    static <T> T locked(Vcpu v, Function<Vcpu, T> op) {
        v.mutex.lock();
        try {
            return op.apply(v);
        } finally {
            v.mutex.unlock();
        }
    }

    /**
     * {@code KVM_REQ_MMU_FREE_OBSOLETE_ROOTS} to every vCPU, as a {@code KVM_REQUEST_WAIT} request: vCPUs leave
     * guest mode before the obsolete roots are zapped.
     */
    void requestRootReload() {
        for (Vcpu v : all)
            v.roots.reload = true;
        guestMode.kickAll();
    }
}
