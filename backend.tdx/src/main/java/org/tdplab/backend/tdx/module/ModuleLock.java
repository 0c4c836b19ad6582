package org.tdplab.backend.tdx.module;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

import org.tdplab.percpu.PercpuCounter;

/**
 * The module's lock over one TD, in the two modes of its S-EPT tree lock: the leaves a fault runs —
 * TDH.MEM.SEPT.ADD, TDH.MEM.PAGE.AUG and the guest's TDG.MEM.PAGE.ACCEPT — hold it shared, as the real module holds
 * the tree lock shared for them, and exclude each other per S-EPT entry (the entry's own lock,
 * {@link SeptTree#LOCKED}); every other leaf, and every view of the module's state, holds it exclusively. So two vCPUs
 * fault private memory at once, new S-EPT pages included, while a leaf that removes from the tree, changes a TD-wide
 * field or frees a page runs alone, as the model ran every leaf before. (The real module takes the tree lock shared
 * for PAGE.REMOVE and DEMOTE too, excluding them by entry and PAMT locks; KVM calls those holding its MMU lock for
 * write, so only a guest's ACCEPT could meet them; the model takes them exclusively.)
 *
 * <p>The module's own sharex lock is one word every shared holder adds to. The model's shared side is counted per
 * thread instead ({@link PercpuCounter}): a shared holder counts itself in a row only its thread writes, and the
 * exclusive side sets a flag and waits until the rows sum to zero. Two vCPU threads faulting at once then write no
 * common line for the lock (with one word, its line moved between them four times per fault), and letting go is a
 * plain store; who excludes whom is the same. The holder's count and the flag's store are both volatile stores,
 * each followed by a volatile load of the other, so at least one side sees the other. A shared hold does not nest
 * in another (a leaf calls no leaf), and a thread that holds the lock exclusively takes the shared side as a no-op;
 * the exclusive side nests.
 */
public final class ModuleLock {
    /** The shared holders, each thread counted in a row of its own. */
    private final PercpuCounter holders = new PercpuCounter();
    /** Set while a thread holds or waits for the exclusive side; shared holders that see it back off. */
    private volatile boolean exclusiveWanted;
    /** Orders the exclusive holders; a shared holder that finds the flag set waits on it. */
    private final ReentrantLock exclusive = new ReentrantLock();
    private static final VarHandle WANTED;

    static {
        try {
            WANTED = MethodHandles.lookup().findVarHandle(ModuleLock.class, "exclusiveWanted", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    public void lockShared() {
        while (true) {
            holders.addVolatile(1); // before the flag's load: the exclusive side's volatile store and load mirror it
            if (!exclusiveWanted)
                return;
            holders.add(-1);
            if (exclusive.isHeldByCurrentThread())
                return; // held exclusively already: nothing to take
            exclusive.lock(); // wait for the exclusive holder
            exclusive.unlock();
        }
    }

    public void unlockShared() {
        if (!exclusiveWanted || !exclusive.isHeldByCurrentThread())
            holders.add(-1);
    }

    public void lockExclusive() {
        exclusive.lock();
        if (exclusive.getHoldCount() > 1)
            return;
        exclusiveWanted = true;
        for (int spins = 0; holders.sum() != 0; spins++) // shared holders finish
            if ((spins & 63) == 63)
                Thread.yield();
            else
                Thread.onSpinWait();
    }

    public void unlockExclusive() {
        if (exclusive.getHoldCount() == 1) // a release store: no fence, as a shared holder that still sees the flag
            WANTED.setRelease(this, false); // set only waits on the exclusive lock and tries again
        exclusive.unlock();
    }

    /** Whether some thread waits for the exclusive side (tests use it to know a walk is waiting for the lock). */
    public boolean hasWaiters() {
        return exclusive.hasQueuedThreads();
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
