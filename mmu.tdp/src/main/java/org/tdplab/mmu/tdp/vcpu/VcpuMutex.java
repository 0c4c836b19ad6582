package org.tdplab.mmu.tdp.vcpu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

import org.tdplab.mmu.tdp.sync.Backoff;

/**
 * {@code vcpu->mutex}: a reentrant lock that a vCPU's ioctls take once per call, almost always uncontended (one
 * thread drives a vCPU). Taking it is one CAS; dropping it is a release store, where a {@code ReentrantLock} also
 * pays a full fence. A thread that finds it held queues, spins briefly, then parks; the unlocker wakes the first
 * queued thread it sees. Its release store and its look at the queue may pass a contender's enqueue and look at
 * the owner, so a contender parks for at most {@value #PARK_NANOS} ns at a time and looks again: a missed wake-up
 * costs that much latency, never progress.
 */
public final class VcpuMutex extends org.tdplab.mmu.tdp.sync.LinePadded {
    private static final VarHandle OWNER, WAITING;
    private static final long PARK_NANOS = 50_000;

    static {
        try {
            OWNER = MethodHandles.lookup().findVarHandle(VcpuMutex.class, "owner", Thread.class);
            WAITING = MethodHandles.lookup().findVarHandle(VcpuMutex.class, "waiting", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through OWNER
    private volatile Thread owner;
    /** Re-entries of the owner; only the owner reads or writes it. */
    private int holds;
    /**
     * How many threads are queued, beside the owner word: the unlocker's look costs no load of the queue's own
     * objects (its head and node lie elsewhere on the heap) when, as almost always, nobody waits.
     */
    @SuppressWarnings("unused") // through WAITING
    private volatile int waiting;
    private final ConcurrentLinkedQueue<Thread> waiters = new ConcurrentLinkedQueue<>();

    public void lock() {
        Thread me = Thread.currentThread();
        Thread o = (Thread) OWNER.getAcquire(this);
        if (o == me) {
            holds++;
            return;
        }
        if (o != null || !OWNER.compareAndSet(this, (Thread) null, me))
            contended(me);
        holds = 1;
    }

    /**
     * {@link #lock}, with a full fence either way: the compare-and-set that takes the mutex is one (HotSpot compiles a
     * volatile {@code compareAndSet} to a full two-way fence; see
     * {@link org.tdplab.mmu.tdp.sync.StripedRwLock#readLockBeforeFence}); a re-entry, which takes nothing, makes one.
     * For a caller that counts itself into a lock's read side just before and looks for its writer just after.
     */
    public void lockFenced() {
        Thread me = Thread.currentThread();
        Thread o = (Thread) OWNER.getAcquire(this);
        if (o == me) {
            holds++;
            VarHandle.fullFence();
            return;
        }
        if (o != null || !OWNER.compareAndSet(this, (Thread) null, me))
            contended(me);
        holds = 1;
    }

    private void contended(Thread me) {
        WAITING.getAndAdd(this, 1);
        waiters.add(me);
        try {
            for (int spins = 0;; spins++) {
                if (OWNER.getAcquire(this) == null && OWNER.compareAndSet(this, (Thread) null, me))
                    return;
                Backoff.pause(spins, 64, this, PARK_NANOS);
            }
        } finally {
            waiters.remove(me);
            WAITING.getAndAdd(this, -1);
        }
    }

    public void unlock() {
        if (OWNER.getAcquire(this) != Thread.currentThread())
            throw new IllegalMonitorStateException("vcpu mutex unlocked by a thread that does not hold it");
        if (--holds > 0)
            return;
        OWNER.setRelease(this, (Thread) null);
        if ((int) WAITING.getVolatile(this) == 0)
            return;
        Thread next = waiters.peek();
        if (next != null)
            LockSupport.unpark(next);
    }

    /**
     * Drops the mutex however often the owner holds it (a vCPU ioctl returning to userspace mid-operation) and
     * returns the count for {@link #relock}.
     */
    public int releaseAll() {
        int held = holds;
        holds = 1;
        unlock();
        return held;
    }

    /** Takes the mutex again after {@link #releaseAll}, with the count it returned. */
    public void relock(int held) {
        lock();
        holds = held;
    }

    public boolean isHeldByCurrentThread() {
        return OWNER.getAcquire(this) == Thread.currentThread();
    }
}
