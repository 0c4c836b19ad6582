package org.tdplab.mmu.tdp.sync;

import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;

import org.tdplab.percpu.ThreadSlots;

/**
 * A reader/writer lock whose read side scales: each reader thread counts itself in a padded slot of its own, so
 * vCPU threads taking the read side at once touch no common cache line. The first {@value #OWNED} threads to read
 * (and later ones in the slots of threads that ended) own their slot: only they write it, so taking the read side
 * is a volatile store and dropping it a release store, no atomic read-modify-write. Threads beyond those share
 * slots by thread id and count in them atomically. A writer announces itself,
 * then waits until every slot is empty; readers that see the announcement back off until the writer is done, so a
 * writer is never starved. Both sides are reentrant, a writer may also take the read side, and a thread's read holds
 * are known ({@link #isReadLockedByMe}) without a {@link ThreadLocal} look-up in the common case.
 *
 * <p>The reader's increment and the writer's announcement are both sequentially consistent (an atomic add and a
 * volatile store followed by volatile loads), so at least one of them sees the other: a reader never runs beside a
 * writer.
 */
public final class StripedRwLock {
    private static final int OWNED = 32, SHARED = 32, SLOTS = OWNED + SHARED, PAD = 16; // a slot per 128 bytes

    /**
     * Where slot {@code k}'s counter lies in {@link #readers}: {@code (k + 1) * PAD}, so that none lies within 128
     * bytes of the array's header, which every reader reads (its length, for the bounds check). With slot 0 at
     * index 0, the thread owning it wrote the header's cache line at every lock and unlock, and every other reader
     * missed on it: two vCPU threads faulting at once spent 1.5× the CPU of one for the same faults.
     */
    static int counterIndex(int slot) {
        return (slot + 1) * PAD;
    }

    /**
     * One thread's read holds; only that thread writes {@link #holds}. A caller that takes and drops the read side
     * more than once in one operation finds it once ({@link #holder}) and passes it; only its thread may.
     */
    public static final class Holder extends HolderFields {
        /** After the fields its thread writes at every lock and unlock ({@link ThreadSlots.Owned}). */
        @SuppressWarnings("unused")
        private long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;

        Holder(Thread thread, int slot, boolean owned) {
            super(thread, slot, owned);
        }
    }

    /** {@link Holder}'s fields, in a class of their own so that its padding follows all of them. */
    abstract static class HolderFields extends ThreadSlots.Owned {
        final Thread thread;
        /** Index of the slot's counter in {@link #readers}. */
        final int slot;
        /** Whether this thread alone writes the slot (0 or 1), or shares it with others (a count). */
        final boolean owned;
        int holds;

        @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
        HolderFields(Thread thread, int slot, boolean owned) {
            super(thread.getId());
            this.thread = thread;
            this.slot = counterIndex(slot);
            this.owned = owned;
        }
    }

    /** Slot {@code k}'s count at {@link #counterIndex}; the last count has a pad after it too. */
    private final AtomicLongArray readers = new AtomicLongArray(counterIndex(SLOTS));
    private final ReentrantLock writers = new ReentrantLock();
    /** The thread holding (or about to hold) the write side; readers back off while it is set. */
    private volatile Thread writer;
    private int writeHolds;
    /**
     * The threads in a slow path of the lock: a writer from the moment it finds the lock taken (by another writer,
     * or by readers it must wait out) until it holds it, and a reader backing off from a writer. The kernel's
     * queued rwlock has its waiters hold {@code wait_lock} the same way, and {@code rwlock_needbreak} looks at that
     * one word: so does {@link #contended}, which a long walk asks at every entry.
     */
    private final AtomicInteger waiters = new AtomicInteger();
    /** The holders that own slots 0..OWNED-1 (null: never owned). Guarded by itself. */
    private final Holder[] owners = new Holder[OWNED];
    private final ThreadLocal<Holder> holders = ThreadLocal.withInitial(this::newHolder);
    private final ThreadSlots<Holder> mine = new ThreadSlots<>(id -> holders.get());

    /**
     * The calling thread's holder: an owned slot if one is free or its owner ended without holding the lock (its
     * end happens-before {@code isAlive} returning false, so its last writes are seen), else a shared slot.
     */
    @SuppressWarnings("deprecation") // Thread.threadId() is Java 19
    private Holder newHolder() {
        Thread me = Thread.currentThread();
        synchronized (owners) {
            for (int i = 0; i < OWNED; i++) {
                Holder o = owners[i];
                if (o == null || !o.thread.isAlive() && o.holds == 0)
                    return owners[i] = new Holder(me, i, true);
            }
        }
        return new Holder(me, OWNED + (int) (me.getId() & (SHARED - 1)), false);
    }

    /** The calling thread's holder, for the methods that take one. */
    public Holder holder() {
        return mine.get();
    }

    // ---- read side ------------------------------------------------------------------------------------------------

    public void readLock() {
        readLock(holder());
    }

    /** {@link #readLock()} with the calling thread's {@link #holder}. */
    public void readLock(Holder h) {
        if (h.holds++ > 0)
            return;
        Thread me = Thread.currentThread();
        for (;;) {
            // the slot's store and the writer's announcement are both volatile: one of the two sees the other
            if (h.owned)
                readers.set(h.slot, 1);
            else
                readers.getAndIncrement(h.slot);
            Thread w = writer;
            if (w == null || w == me)
                return;
            release(h);
            awaitNoWriter(me);
        }
    }

    /**
     * {@link #readLock}'s first half, for a caller whose very next step is a full fence of its own (a vCPU thread
     * taking {@code vcpu->mutex} by compare-and-set): the thread is counted in with a release store, where
     * {@link #readLock} makes the store volatile so that it is itself the fence. {@link #readLockAfterFence} must
     * follow the fence; it looks for a writer as {@link #readLock} does after its store, and only then is the read
     * side held. A nested hold is taken at once.
     *
     * <p>The Dekker argument of the class needs the count ordered before the look at {@link #writer}. Under the Java
     * memory model alone a release store followed by a volatile compare-and-set and a volatile load does not promise
     * that (the release store is not a synchronization action); this relies on HotSpot, which compiles a volatile
     * {@code compareAndSet} to a full two-way fence ({@code lock cmpxchg} on x86, whose stores are otherwise only
     * held back behind later loads; on aarch64 the release store ({@code stlr}) and the volatile load ({@code ldar})
     * are ordered by themselves). A caller whose step makes no such fence must call {@link VarHandle#fullFence}.
     */
    public void readLockBeforeFence() {
        readLockBeforeFence(holder());
    }

    /** {@link #readLockBeforeFence()} with the calling thread's {@link #holder}. */
    public void readLockBeforeFence(Holder h) {
        if (h.holds++ > 0)
            return;
        if (h.owned)
            readers.lazySet(h.slot, 1);
        else
            readers.getAndIncrement(h.slot);
    }

    /**
     * The second half of {@link #readLockBeforeFence}, after the caller's fence: true with the read side held; false
     * with it let go, when a writer is announced — the caller backs off (undoing what it did since the first half)
     * and takes the read side by {@link #readLock}, which waits for the writer.
     */
    public boolean readLockAfterFence() {
        return readLockAfterFence(holder());
    }

    /** {@link #readLockAfterFence()} with the calling thread's {@link #holder}. */
    public boolean readLockAfterFence(Holder h) {
        if (h.holds > 1)
            return true;
        Thread w = writer;
        if (w == null || w == Thread.currentThread())
            return true;
        h.holds = 0;
        release(h);
        return false;
    }

    /** Counts the holder out; for an owned slot a release store (a writer that sees it sees the section done). */
    private void release(Holder h) {
        if (h.owned)
            readers.lazySet(h.slot, 0);
        else
            readers.getAndDecrement(h.slot);
    }

    public void readUnlock() {
        readUnlock(holder());
    }

    /** {@link #readUnlock()} with the calling thread's {@link #holder}. */
    public void readUnlock(Holder h) {
        if (h.holds <= 0)
            throw new IllegalMonitorStateException("read unlock without the read lock");
        if (--h.holds == 0)
            release(h);
    }

    public boolean isReadLockedByMe() {
        return holder().holds > 0;
    }

    /** Whether this thread holds the read side exactly once and not the write side: dropping it lets a writer in. */
    public boolean readHeldOnce() {
        return writer != Thread.currentThread() && holder().holds == 1;
    }

    /**
     * {@code cond_resched_rwlock_read}: lets go of the read side (held once) and takes it again. A writer that waits
     * has announced itself, so the new read lock backs off until that writer is done: the writer goes first.
     */
    public void yieldRead() {
        Holder h = holder();
        readUnlock(h);
        readLock(h);
    }

    private void awaitNoWriter(Thread me) {
        waiters.incrementAndGet();
        try {
            for (int spins = 0; writer != null && writer != me; spins++)
                Backoff.pause(spins, 256, this, 20_000);
        } finally {
            waiters.decrementAndGet();
        }
    }

    // ---- write side -----------------------------------------------------------------------------------------------

    /**
     * Takes the write side (reentrant). A thread that holds only the read side is refused: the kernel's rwlock would
     * wait for that reader, itself, for ever — lockdep's report, here an error before anything is taken.
     */
    public void writeLock() {
        Thread me = Thread.currentThread();
        if (writer != me && holder().holds > 0)
            throw new IllegalStateException("the write side taken by a thread that holds the read side: a deadlock");
        if (writer == me) { // only this thread sets it to itself
            writers.lock();
            writeHolds++;
            return;
        }
        if (writers.tryLock()) {
            writeHolds = 1;
            writer = me;
            if (!activeReaders())
                return;
            waiters.incrementAndGet(); // readers to wait out: a waiter from here
        } else {
            waiters.incrementAndGet(); // another writer holds it: a waiter from before the queue
            writers.lock();
            writeHolds = 1;
            writer = me;
        }
        try {
            for (int spins = 0; activeReaders(); spins++)
                Backoff.pause(spins, 256, this, 20_000);
        } finally {
            waiters.decrementAndGet();
        }
    }

    public void writeUnlock() {
        if (writer != Thread.currentThread())
            throw new IllegalMonitorStateException("write unlock without the write lock");
        if (--writeHolds == 0)
            writer = null;
        writers.unlock();
    }

    /**
     * {@code cond_resched_rwlock_write}: lets go of the write side (held once) and takes it again after the threads
     * waiting for the lock had their turn, as the kernel's queued rwlock hands itself to its waiters before a new
     * locker. The write side here is a plain lock, which the releasing thread could take back before a parked
     * waiter woke: the yield would then let nobody in.
     */
    public void yieldWrite() {
        writeUnlock();
        for (int spins = 0; writer == null && waiters.get() > 0; spins++)
            Backoff.pause(spins, 64, this, 20_000);
        writeLock();
    }

    private boolean activeReaders() {
        for (int s = counterIndex(0); s < counterIndex(SLOTS); s += PAD)
            if (readers.get(s) != 0)
                return true;
        return false;
    }

    public boolean isWriteLockedByMe() {
        return writer == Thread.currentThread() && writers.isHeldByCurrentThread();
    }

    /** Whether this thread holds the write side exactly once, so dropping it really releases it. */
    public boolean writeHeldOnce() {
        return isWriteLockedByMe() && writeHolds == 1;
    }

    /**
     * {@code rwlock_needbreak}: a writer or a reader waits for the lock — one read of {@link #waiters}. The holder's
     * own wait is over before it holds the lock, so it counts only the others: a writer queued behind it or waiting
     * out its readers, a reader backing off from it.
     */
    public boolean contended() {
        return waiters.get() > 0;
    }
}
