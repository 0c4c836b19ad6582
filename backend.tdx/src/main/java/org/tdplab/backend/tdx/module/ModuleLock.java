package org.tdplab.backend.tdx.module;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

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
 * <p>Like the module's own sharex locks, a shared hold is a count in one word and an exclusive one a bit in it, so a
 * shared hold costs one atomic add each way. A shared hold does not nest in another (a leaf calls no leaf), and a
 * thread that holds the lock exclusively takes the shared side as a no-op; the exclusive side nests.
 */
public final class ModuleLock {
    private static final long EXCLUSIVE = 1L << 62;
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    /**
     * The lock word, {@code words[STATE]}: shared holders in the low bits, {@link #EXCLUSIVE} while a thread holds or
     * waits for the exclusive side. Every shared hold writes it, so it has a cache line of its own: next to the lock
     * object's other fields, the vCPU threads' holds made each other's reads of them miss.
     */
    private final long[] words = new long[2 * STATE + 1];
    private static final int STATE = 8;
    /** Orders the exclusive holders; a shared holder that finds the bit set waits on it. */
    private final ReentrantLock exclusive = new ReentrantLock();

    public void lockShared() {
        while ((add(1) & EXCLUSIVE) != 0) {
            add(-1);
            if (exclusive.isHeldByCurrentThread())
                return; // held exclusively already: nothing to take
            exclusive.lock(); // wait for the exclusive holder
            exclusive.unlock();
        }
    }

    public void unlockShared() {
        if (((long) WORD.getVolatile(words, STATE) & EXCLUSIVE) == 0 || !exclusive.isHeldByCurrentThread())
            add(-1);
    }

    public void lockExclusive() {
        exclusive.lock();
        if (exclusive.getHoldCount() > 1)
            return;
        add(EXCLUSIVE);
        for (int spins = 0; (long) WORD.getVolatile(words, STATE) != EXCLUSIVE; spins++) // shared holders finish
            if ((spins & 63) == 63)
                Thread.yield();
            else
                Thread.onSpinWait();
    }

    public void unlockExclusive() {
        if (exclusive.getHoldCount() == 1)
            add(-EXCLUSIVE);
        exclusive.unlock();
    }

    /** Adds to the lock word; returns its value before. */
    private long add(long delta) {
        return (long) WORD.getAndAdd(words, STATE, delta);
    }

    /** Whether some thread waits for the exclusive side (tests use it to know a walk is waiting for the lock). */
    public boolean hasWaiters() {
        return exclusive.hasQueuedThreads();
    }

    /** A field of {@link TdxModule}, for the leaves that change it holding the lock shared. */
    static java.lang.invoke.VarHandle field(String name, Class<?> type) {
        try {
            return java.lang.invoke.MethodHandles.lookup().findVarHandle(TdxModule.class, name, type);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
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
