package org.tdplab.mmu.tdp.vcpu;

import org.tdplab.mmu.tdp.mmu.MmuLock;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.sync.StripedRwLock;

/**
 * The records that the thread running a vCPU has in its VM's per-thread structures: its reader of the MMU's RCU
 * and of {@code kvm->srcu}, its read holds of {@code mmu_lock} and of the backend gate. An access finds them once
 * and passes them down; each lock looking its own record up at every lock and unlock ({@link
 * org.tdplab.percpu.ThreadSlots}) cost a dozen look-ups per demand fault.
 *
 * <p>Written only by the thread holding {@code vcpu->mutex} ({@link #mine}), whose acquire and release order the
 * records with the next thread that runs the vCPU; that thread finds its own again. The gate is entered before
 * the mutex is taken, so {@link #gate()} reads its record without it and trusts it only if it is the caller's.
 */
public final class VcpuThread {
    private Rcu rcuOf, srcuOf;
    private MmuLock mmuLockOf;
    private StripedRwLock gateOf;
    /** The thread the records below are of (-1: none yet). */
    private long threadId = -1;
    /** Under {@code vcpu->mutex}, after {@link #mine}: the calling thread's records. */
    public Rcu.Reader rcu, srcu;
    public StripedRwLock.Holder mmuLock;
    private StripedRwLock.Holder gate;

    /** The VM's structures, once, before the vCPU first runs. */
    public void attach(Rcu rcu, Rcu srcu, MmuLock mmuLock, StripedRwLock gate) {
        this.rcuOf = rcu;
        this.srcuOf = srcu;
        this.mmuLockOf = mmuLock;
        this.gateOf = gate;
    }

    /** The records, the calling thread's (found again if another thread ran the vCPU last); under the mutex. */
    @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
    public VcpuThread mine() {
        long me = Thread.currentThread().getId();
        if (threadId != me)
            bind(me);
        return this;
    }

    private void bind(long me) {
        rcu = rcuOf.reader();
        srcu = srcuOf.reader();
        mmuLock = mmuLockOf.holder();
        gate = gateOf.holder();
        threadId = me;
    }

    /**
     * The calling thread's hold record of the backend gate, without the mutex: the last runner's if that is the
     * caller (a record names its thread, and thread ids are never reused), else looked up.
     */
    @SuppressWarnings("deprecation")
    public StripedRwLock.Holder gate() {
        StripedRwLock.Holder g = gate;
        return g != null && g.threadId == Thread.currentThread().getId() ? g : gateOf.holder();
    }
}
