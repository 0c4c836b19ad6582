package org.tdplab.backend.tdx.module;

import java.util.Arrays;

/**
 * Each vCPU's life in the module, as its lifecycle leaves write it into the TDVPS: created (TDH.VP.CREATE: its TDVPR
 * page; a vCPU's index is its creation order), its TDCX pages added, initialized (TDH.VP.INIT), flushed
 * (TDH.VP.FLUSH). What entries, exits and accepts write per vCPU is in {@link VcpuLines}. Guarded by the module's
 * lock, as the rest of its state.
 */
final class VcpuLifecycle {
    /** The TD's MAX_VCPUS. */
    final int max;
    /** vCPUs created. */
    int count;
    /** Each vCPU's TDVPR page, -1 for none. */
    final long[] tdvprPfn;
    final int[] tdcxAdded;
    final boolean[] initialized, flushed;

    VcpuLifecycle(int max) {
        this.max = max;
        this.tdvprPfn = new long[max];
        this.tdcxAdded = new int[max];
        this.initialized = new boolean[max];
        this.flushed = new boolean[max];
        Arrays.fill(tdvprPfn, -1);
    }

    /** Whether MAX_VCPUS vCPUs were created. */
    boolean full() {
        return count >= max;
    }

    /** A new vCPU with its TDVPR in frame {@code tdvprPfn}; returns its index. */
    int create(long tdvprPfn) {
        int v = count++;
        this.tdvprPfn[v] = tdvprPfn;
        return v;
    }
}
