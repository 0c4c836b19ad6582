package org.tdplab.mmu.tdp.mmu;

/**
 * The roots one vCPU holds a reference to ({@code vcpu->arch.mmu->root} and {@code mirror_root_hpa}), loaded and
 * chosen by {@link Roots}. Touched only by the vCPU's own thread, but for {@link #reload}.
 */
public final class VcpuRoots {
    /** Root table ids (0: none yet). */
    public int direct, mirror;
    /** {@code KVM_REQ_MMU_FREE_OBSOLETE_ROOTS} pending. */
    public volatile boolean reload;
}
