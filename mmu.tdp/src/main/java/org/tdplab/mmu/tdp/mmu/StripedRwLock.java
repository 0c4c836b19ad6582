package org.tdplab.mmu.tdp.mmu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A reader/writer lock whose read side scales: each reader thread counts itself in a padded slot of its own (by
 * thread id), so vCPU threads taking the read side at once touch no common cache line. A writer announces itself,
 * then waits until every slot is empty; readers that see the announcement back off until the writer is done, so a
 * writer is never starved. Both sides are reentrant, a writer may also take the read side, and a thread's read holds
 * are known ({@link #isReadLockedByMe}) without a {@link ThreadLocal} look-up in the common case.
 *
 * <p>The reader's increment and the writer's announcement are both sequentially consistent (an atomic add and a
 * volatile store followed by volatile loads), so at least one of them sees the other: a reader never runs beside a
 * writer.
 */
public final class StripedRwLock {
    private static final int SLOTS = 64, PAD = 16; // 16 longs: a slot per 128 bytes

    /** One thread's read holds; only that thread writes {@link #holds}. */
    private static final class Holder {
        final long threadId;
        final int slot;
        int holds;

        Holder(long threadId) {
            this.threadId = threadId;
            this.slot = (int) (threadId & (SLOTS - 1)) * PAD;
        }
    }

    private final AtomicLongArray readers = new AtomicLongArray(SLOTS * PAD);
    private final ReentrantLock writers = new ReentrantLock();
    /** The thread holding (or about to hold) the write side; readers back off while it is set. */
    private volatile Thread writer;
    private int writeHolds;
    private final AtomicInteger waitingReaders = new AtomicInteger();
    private final Holder[] fast = new Holder[SLOTS];
    private final ThreadLocal<Holder> holders = ThreadLocal.withInitial(() -> new Holder(currentId()));

    @SuppressWarnings("deprecation") // Thread.threadId() is Java 19
    private static long currentId() {
        return Thread.currentThread().getId();
    }

    private Holder holder() {
        long id = currentId();
        int i = (int) (id & (SLOTS - 1));
        Holder h = fast[i];
        if (h != null && h.threadId == id)
            return h;
        h = holders.get();
        fast[i] = h; // a plain store: another thread finding this holder only goes to its ThreadLocal
        return h;
    }

    // ---- read side ------------------------------------------------------------------------------------------------

    public void readLock() {
        Holder h = holder();
        if (h.holds++ > 0)
            return;
        Thread me = Thread.currentThread();
        for (;;) {
            readers.getAndIncrement(h.slot);
            Thread w = writer;
            if (w == null || w == me)
                return;
            readers.getAndDecrement(h.slot);
            awaitNoWriter(me);
        }
    }

    public void readUnlock() {
        Holder h = holder();
        if (h.holds <= 0)
            throw new IllegalMonitorStateException("read unlock without the read lock");
        if (--h.holds == 0)
            readers.getAndDecrement(h.slot);
    }

    public boolean isReadLockedByMe() {
        return holder().holds > 0;
    }

    private void awaitNoWriter(Thread me) {
        waitingReaders.incrementAndGet();
        try {
            for (int spins = 0; writer != null && writer != me; spins++) {
                if (spins < 256)
                    Thread.onSpinWait();
                else
                    LockSupport.parkNanos(this, 20_000);
            }
        } finally {
            waitingReaders.decrementAndGet();
        }
    }

    // ---- write side -----------------------------------------------------------------------------------------------

    public void writeLock() {
        writers.lock();
        if (writeHolds++ > 0)
            return;
        Thread me = Thread.currentThread();
        writer = me;
        int mine = holder().holds > 0 ? 1 : 0; // a reader upgrading would wait for itself: count its own slot out
        for (int spins = 0; activeReaders(mine); spins++) {
            if (spins < 256)
                Thread.onSpinWait();
            else
                LockSupport.parkNanos(this, 20_000);
        }
    }

    public void writeUnlock() {
        if (writer != Thread.currentThread())
            throw new IllegalMonitorStateException("write unlock without the write lock");
        if (--writeHolds == 0)
            writer = null;
        writers.unlock();
    }

    private boolean activeReaders(int mine) {
        long mySlot = holder().slot;
        for (int s = 0; s < SLOTS * PAD; s += PAD) {
            long n = readers.get(s);
            if (s == mySlot)
                n -= mine;
            if (n != 0)
                return true;
        }
        return false;
    }

    public boolean isWriteLockedByMe() {
        return writer == Thread.currentThread() && writers.isHeldByCurrentThread();
    }

    /** Whether this thread holds the write side exactly once, so dropping it really releases it. */
    public boolean writeHeldOnce() {
        return isWriteLockedByMe() && writeHolds == 1;
    }

    /** {@code rwlock_needbreak}: a writer or a reader waits for the lock. */
    public boolean contended() {
        Thread w = writer;
        return writers.hasQueuedThreads() || waitingReaders.get() > 0 || (w != null && w != Thread.currentThread());
    }
}
