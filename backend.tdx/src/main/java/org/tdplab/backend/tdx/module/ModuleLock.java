package org.tdplab.backend.tdx.module;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

import org.tdplab.percpu.PercpuCounters;

/**
 * The module's lock over one TD, in the two modes of its S-EPT tree lock: the leaves a fault runs —
 * TDH.MEM.SEPT.ADD, TDH.MEM.PAGE.AUG and the guest's TDG.MEM.PAGE.ACCEPT — hold it shared, and exclude each other per
 * S-EPT entry (the entry's own lock, {@link SeptTree#LOCKED}). The real module holds the tree lock shared for SEPT.ADD
 * and AUG; its ACCEPT takes no tree lock, only the entry's (a guest-side lock that backs off for a host): it walks in
 * the TD's context, where TLB tracking keeps what it reached until the next TD exit. The ACCEPT's shared hold here
 * stands for that (a leaf that removes from the tree holds the lock exclusively), and orders what the ACCEPT changes of
 * the vCPU's TD state — the entry it may make first and the exit it makes when it must exit (epoch refcounts) —
 * against TDH.MEM.TRACK and the host's kick, which hold it exclusively. Every other leaf, and every view of the
 * module's state, holds it exclusively (but one
 * frame's PAMT word, a single load, as an AUG reads it). So two vCPUs fault private memory at once, new S-EPT pages
 * included, while a leaf that removes from the tree, changes a TD-wide field or frees a page runs alone, as the model
 * ran every leaf before. (The real module takes the tree lock shared for PAGE.REMOVE and DEMOTE too, excluding them
 * by entry and PAMT locks; KVM calls those holding its MMU lock for write, so only a guest's ACCEPT could meet them;
 * the model takes them exclusively.)
 *
 * <p>The module's own sharex lock is one word every shared holder adds to. The model's shared side is counted per
 * thread instead ({@link PercpuCounters}): a shared holder counts itself in a row only its thread writes (looked up
 * once per hold: the release counts itself out in the row the hold returned), and the exclusive side takes the owner
 * word with a CAS and waits until the rows sum to zero. Two vCPU threads faulting at once then write no common line for
 * the lock (with one word, its line moved between them four times per fault), and letting go is a plain store; who
 * excludes whom is the same. The holder's count (a volatile store) and the
 * owner's CAS are each followed by a volatile load of the other, so at least one side sees the other. A shared hold
 * does not nest in another (a leaf calls no leaf), and a thread that holds the lock exclusively takes the shared side
 * as a no-op; the exclusive side nests. Waiters spin briefly, then park and look again; an unlock wakes them.
 *
 * <p>A guest-side hold (the ACCEPT, {@link #lockShared(int)}) counts in a cell of its vCPU, which only the thread
 * running the vCPU writes (KVM's {@code vcpu->mutex}): no look-up of the thread's row. A host hold's row also counts
 * what its leaf adds to the TD's {@code chldcnt} ({@link ChildCount}), with no second look-up.
 */
public final class ModuleLock {
    /** How long a waiter parks before it looks at the owner again (a wake-up the unlocker missed costs this much). */
    private static final long PARK_NANOS = 50_000;
    private static final VarHandle OWNER;

    static {
        try {
            OWNER = MethodHandles.lookup().findVarHandle(ModuleLock.class, "owner", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);
    /** The counters of {@link #holders}: the thread's shared holds, and its share of the TD's {@code chldcnt}. */
    static final int HOLDS = 0, CHILDREN = 1;
    /** A vCPU's hold cell and 120 bytes of padding: two vCPU threads holding at once write no common line pair. */
    private static final int STRIDE = 16;

    /** The host's shared holders, each thread counted in a row of its own ({@link #HOLDS}). */
    final PercpuCounters holders = new PercpuCounters(2);
    /** The guest's shared holders, per vCPU, {@link #STRIDE} apart, a stride of padding before the first. */
    private final long[] vcpuHolds;
    /**
     * The exclusive holder, or null. Taking it is one CAS from null, which is also the flag shared holders look at:
     * one atomic per exclusive section where a lock of its own and a flag's volatile store cost three fences.
     */
    @SuppressWarnings("unused") // through OWNER
    private volatile Thread owner;
    /** The exclusive holder's nesting; only the holder reads or writes it. */
    private int holds;
    /** Threads waiting for the exclusive holder to let go: shared holders that met it, and exclusive contenders. */
    private final ConcurrentLinkedQueue<Thread> waiters = new ConcurrentLinkedQueue<>();

    /** A lock over a TD of {@code vcpus} vCPUs (its MAX_VCPUS): the guest's holds are counted per vCPU. */
    public ModuleLock(int vcpus) {
        this.vcpuHolds = new long[(vcpus + 2) * STRIDE];
    }

    /** Takes the shared side; returns the calling thread's row, for {@link #unlockShared(PercpuCounters.Row)}. */
    public PercpuCounters.Row lockShared() {
        PercpuCounters.Row row = holders.row(); // once per hold: the release counts itself out in the same row
        Thread me = null;
        while (true) {
            holders.addVolatile(row, HOLDS, 1); // before the owner's load: the exclusive side's CAS and sum mirror it
            Thread o = (Thread) OWNER.getVolatile(this);
            if (o == null)
                return row;
            holders.add(row, HOLDS, -1);
            if (me == null)
                me = Thread.currentThread();
            if (o == me)
                return row; // held exclusively already: nothing to take
            awaitRelease(me);
        }
    }

    /** Lets the shared side go, with the row {@link #lockShared()} returned on this thread. */
    public void unlockShared(PercpuCounters.Row row) {
        if (OWNER.getAcquire(this) != Thread.currentThread())
            holders.add(row, HOLDS, -1);
    }

    /**
     * Takes the shared side for a guest leaf of vCPU {@code v}, run by the thread that runs the vCPU (one at a time):
     * counted in the vCPU's cell, ordered against the exclusive side as a row's count is.
     */
    public void lockShared(int v) {
        int at = (v + 1) * STRIDE;
        long[] h = vcpuHolds;
        Thread me = null;
        while (true) {
            CELL.setVolatile(h, at, h[at] + 1);
            Thread o = (Thread) OWNER.getVolatile(this);
            if (o == null)
                return;
            CELL.setRelease(h, at, h[at] - 1);
            if (me == null)
                me = Thread.currentThread();
            if (o == me)
                return;
            awaitRelease(me);
        }
    }

    /** Lets go of {@link #lockShared(int)} of vCPU {@code v}, on the thread that took it. */
    public void unlockShared(int v) {
        if (OWNER.getAcquire(this) != Thread.currentThread()) {
            int at = (v + 1) * STRIDE;
            CELL.setRelease(vcpuHolds, at, vcpuHolds[at] - 1);
        }
    }

    /** Whether some shared hold is counted (the exclusive side waits until none is). */
    private boolean sharedHeld() {
        if (holders.sum(HOLDS) != 0)
            return true;
        long[] h = vcpuHolds;
        for (int at = STRIDE; at < h.length - STRIDE; at += STRIDE)
            if ((long) CELL.getVolatile(h, at) != 0)
                return true;
        return false;
    }

    public void lockExclusive() {
        Thread me = Thread.currentThread();
        Thread o = (Thread) OWNER.getAcquire(this);
        if (o == me) {
            holds++;
            return;
        }
        if (o != null || !OWNER.compareAndSet(this, (Thread) null, me))
            contend(me);
        holds = 1;
        for (int spins = 0; sharedHeld(); spins++) // shared holders finish
            if ((spins & 63) == 63)
                Thread.yield();
            else
                Thread.onSpinWait();
    }

    /**
     * Lets go with a release store: a shared holder that still sees the owner only waits and looks again, and one
     * that sees it gone reads it with a volatile load, which orders the exclusive section before it.
     */
    public void unlockExclusive() {
        if (OWNER.getAcquire(this) != Thread.currentThread())
            throw new IllegalMonitorStateException("module lock let go by a thread that does not hold it");
        if (--holds > 0)
            return;
        OWNER.setRelease(this, (Thread) null);
        if (waiters.peek() != null) // a look without an iterator: most unlocks find nobody waiting
            for (Thread t : waiters)
                LockSupport.unpark(t);
    }

    /** Whether a thread took the exclusive side (it may still wait for shared holders to finish): for tests. */
    boolean exclusiveTaken() {
        return OWNER.getVolatile(this) != null;
    }

    /** Whether some thread waits for the exclusive holder (tests use it to know a walk is waiting for the lock). */
    public boolean hasWaiters() {
        return !waiters.isEmpty();
    }

    private void contend(Thread me) {
        waiters.add(me);
        try {
            for (int spins = 0;; spins++) {
                if (OWNER.getVolatile(this) == null && OWNER.compareAndSet(this, (Thread) null, me))
                    return;
                pause(spins);
            }
        } finally {
            waiters.remove(me);
        }
    }

    private void awaitRelease(Thread me) {
        waiters.add(me);
        try {
            for (int spins = 0; OWNER.getVolatile(this) != null; spins++)
                pause(spins);
        } finally {
            waiters.remove(me);
        }
    }

    private void pause(int spins) {
        if (spins < 64)
            Thread.onSpinWait();
        else if (spins < 128)
            Thread.yield();
        else
            LockSupport.parkNanos(this, PARK_NANOS);
    }

    /** Runs {@code leaf} holding the lock exclusively; returns what it returns. */
    long exclusive(LongSupplier leaf) {
        lockExclusive();
        try {
            return leaf.getAsLong();
        } finally {
            unlockExclusive();
        }
    }

    /**
     * {@link #exclusive(LongSupplier)} of a leaf taking its arguments (up to two; a leaf of one ignores {@code b}): a
     * leaf made once needs no capture per call, for the leaves called per page.
     */
    long exclusive(long a, long b, java.util.function.LongBinaryOperator leaf) {
        lockExclusive();
        try {
            return leaf.applyAsLong(a, b);
        } finally {
            unlockExclusive();
        }
    }

    /** {@link #exclusive(LongSupplier)} for a view that is an object. */
    <T> T exclusiveGet(java.util.function.Supplier<T> view) {
        lockExclusive();
        try {
            return view.get();
        } finally {
            unlockExclusive();
        }
    }

    /** Runs {@code action} holding the lock exclusively. */
    void exclusiveRun(Runnable action) {
        lockExclusive();
        try {
            action.run();
        } finally {
            unlockExclusive();
        }
    }
}
