package org.tdplab.backend.tdx.kvm;

import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * A TD's kicks, {@code kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE)}: a kick returns once every vCPU left
 * guest mode once; the module then counts each vCPU that was inside (and did not enter again) as having exited the
 * TD. One kick at a time: they share the snapshot of the vCPUs' entries.
 */
final class VcpuKicks {
    private final VmContext ctx;
    private final TdxModule module;
    private final Object lock = new Object();
    /** Per vCPU, at the last kick: its entry count if it was inside the TD, else -1 (kept in a {@link TdxSnapshot}). */
    final long[] snapshot;

    VcpuKicks(VmContext ctx, TdxModule module) {
        this.ctx = ctx;
        this.module = module;
        this.snapshot = new long[ctx.vcpus()];
    }

    void kickAll() {
        synchronized (lock) {
            boolean anyInside = module.snapshotEntries(snapshot);
            ctx.kickAllVcpus();
            if (anyInside) // else nothing to count: a vCPU entering after the snapshot is not one the kick waited for
                module.exitedSince(snapshot);
        }
    }
}
