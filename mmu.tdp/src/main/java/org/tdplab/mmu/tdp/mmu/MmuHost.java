package org.tdplab.mmu.tdp.mmu;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmBackend;

/** What the TDP MMU needs from the VM that owns it. */
public interface MmuHost {
    /** {@code KVM_BUG_ON}: marks the VM bugged. */
    void bug(String reason);

    boolean bugged();

    VmBackend backend();

    /**
     * The IPIs of {@code kvm_flush_remote_tlbs_range}: returns once every vCPU has dropped translations for the range.
     */
    void flushRemoteTlbs(long gfn, long npages);

    /** {@code KVM_REQ_MMU_FREE_OBSOLETE_ROOTS}: vCPUs reload their roots before they next enter the guest. */
    void requestRootReload();

    /** {@code kvm_tdp_mmu_spte_changed} trace event. */
    void traceSpteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte);

    /** Whether anybody listens to the trace events: a change builds its event's arguments only then. */
    default boolean tracing() {
        return true;
    }
}
