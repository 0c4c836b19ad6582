package org.tdplab.mmu.tdp.vcpu;

import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;

/**
 * One vCPU: its roots, its TLB, its reusable fault structure, and the guest-mode handshake that remote TLB
 * flushes and kicks wait on (the model's IPI). A vCPU is driven by one thread at a time.
 */
public final class Vcpu {
    public final int id;
    public final Tlb tlb = new Tlb(1024);
    public final PageFault fault;
    /** The iterator of this vCPU's hardware walks (the fault has its own: a walk runs inside the fault's retry). */
    public final TdpIter walker;
    /** {@code vcpu->mutex}: vCPU ioctls (running the guest, pre-faulting) are serialized per vCPU. */
    public final java.util.concurrent.locks.ReentrantLock mutex = new java.util.concurrent.locks.ReentrantLock();
    /** The roots this vCPU holds a reference to (0: none yet). */
    public int directRoot, mirrorRoot;
    /** {@code KVM_REQ_MMU_FREE_OBSOLETE_ROOTS} pending. */
    public volatile boolean reloadRoots;
    /** In guest mode: using translations. Remote flushes wait for such vCPUs to notice them. */
    volatile boolean inGuest;
    /** The flush generation this vCPU has applied to its TLB. */
    volatile long seenFlushGen;
    /** Where the last exit happened (filled by the fault handler, read when building the result). */
    public long exitGpa;
    public boolean exitPrivate;
    /** The token the last read returned. */
    public long lastRead;
    /** The GFN of the last nested walk a backend made for an instruction's operand (-1: none in this step). */
    public long operandGfn = -1;

    public Vcpu(int id, TablePool pool) {
        this.id = id;
        this.fault = new PageFault(new TdpIter(pool));
        this.walker = new TdpIter(pool);
    }
}
