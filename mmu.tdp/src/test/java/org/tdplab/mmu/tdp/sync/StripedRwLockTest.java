package org.tdplab.mmu.tdp.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class StripedRwLockTest {
    @Test
    void readersShareWritersExcludeEveryone() throws Exception {
        StripedRwLock lock = new StripedRwLock();
        AtomicInteger inside = new AtomicInteger(), writing = new AtomicInteger();
        AtomicBoolean broken = new AtomicBoolean();
        AtomicLong writes = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
            boolean writer = t < 2;
            threads.add(new Thread(() -> {
                for (int i = 0; i < 20_000; i++) {
                    if (writer) {
                        lock.writeLock();
                        lock.writeLock(); // reentrant
                        if (inside.get() != 0 || writing.incrementAndGet() != 1)
                            broken.set(true);
                        lock.readLock(); // a writer may read
                        writes.incrementAndGet();
                        lock.readUnlock();
                        writing.decrementAndGet();
                        lock.writeUnlock();
                        lock.writeUnlock();
                    } else {
                        lock.readLock();
                        lock.readLock(); // reentrant, even with a writer waiting
                        inside.incrementAndGet();
                        if (writing.get() != 0)
                            broken.set(true);
                        inside.decrementAndGet();
                        lock.readUnlock();
                        lock.readUnlock();
                    }
                }
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads)
            t.join();
        assertFalse(broken.get(), "a reader ran beside a writer, or two writers together");
        assertEquals(40_000, writes.get(), "no writer starved");
    }

    @Test
    void noReaderCountLiesNearTheArrayHeaderOrNearAnother() {
        // every reader reads the header (the array's length); a count beside it, or beside another thread's, is
        // written by one thread and missed on by the others at every lock and unlock
        for (int slot = 0; slot < 64; slot++) {
            int index = StripedRwLock.counterIndex(slot);
            assertTrue(index * Long.BYTES >= 128, "slot " + slot + " lies at byte " + index * Long.BYTES);
            assertTrue(StripedRwLock.counterIndex(slot + 1) - index >= 128 / Long.BYTES, "slot " + slot);
        }
    }

    @Test
    void holdsAreKnownPerThread() throws Exception {
        StripedRwLock lock = new StripedRwLock();
        assertFalse(lock.isReadLockedByMe());
        lock.readLock();
        assertTrue(lock.isReadLockedByMe());
        boolean[] seen = { true };
        Thread other = new Thread(() -> seen[0] = lock.isReadLockedByMe());
        other.start();
        other.join();
        assertFalse(seen[0], "another thread holds nothing");
        lock.readUnlock();
        assertThrows(IllegalMonitorStateException.class, lock::readUnlock);
        lock.writeLock();
        assertTrue(lock.isWriteLockedByMe() && lock.writeHeldOnce());
        lock.writeLock();
        assertFalse(lock.writeHeldOnce());
        lock.writeUnlock();
        lock.writeUnlock();
        assertFalse(lock.isWriteLockedByMe());
        assertThrows(IllegalMonitorStateException.class, lock::writeUnlock);
    }

    /** A reader behind a writer, and a writer behind a reader, park on the lock (after spinning) and go on when let. */
    @Test
    void waitersParkOnTheLockAndGoOnWhenItIsFree() throws Exception {
        StripedRwLock lock = new StripedRwLock();
        lock.writeLock();
        assertParksUntilFree(lock, "reader", () -> {
            lock.readLock();
            lock.readUnlock();
        }, lock::writeUnlock);
        lock.readLock();
        assertParksUntilFree(lock, "writer", () -> {
            lock.writeLock();
            lock.writeUnlock();
        }, lock::readUnlock);
    }

    /**
     * Runs {@code take} (the lock taken and let go) on a thread of its own while the caller holds {@code lock}: it
     * parks on the lock and does not get in; {@code release} lets it in.
     */
    private static void assertParksUntilFree(StripedRwLock lock, String who, Runnable take, Runnable release)
            throws InterruptedException {
        AtomicBoolean done = new AtomicBoolean();
        Thread waiter = new Thread(() -> {
            take.run();
            done.set(true);
        });
        waiter.start();
        assertSame(lock, Waits.awaitParkedOn(waiter, lock), "the " + who + " waits, parked on the lock");
        assertFalse(done.get(), "a " + who + " got in beside the holder");
        release.run();
        waiter.join(60_000); // a bound for a hang, not a timing
        assertTrue(done.get());
    }

    /**
     * A yield of the write side lets in a writer that was waiting, or the readers that were, before the yielding
     * thread has the lock again (cond_resched_rwlock_write on a queued rwlock); with nobody waiting it returns at
     * once.
     */
    @Test
    void aYieldLetsAWaitingWriterOrReaderInBeforeTakingTheLockAgain() {
        StripedRwLock lock = new StripedRwLock();
        lock.writeLock();
        lock.yieldWrite();
        assertTrue(lock.writeHeldOnce(), "nobody waited: held again");
        for (boolean writes : new boolean[] { true, false }) {
            AtomicBoolean ran = new AtomicBoolean();
            Thread waiter = new Thread(() -> {
                if (writes)
                    lock.writeLock();
                else
                    lock.readLock();
                ran.set(true);
                if (writes)
                    lock.writeUnlock();
                else
                    lock.readUnlock();
            });
            waiter.start();
            if (writes)
                while (waiter.getState() != Thread.State.WAITING)
                    Thread.onSpinWait();
            else
                Waits.awaitParkedOn(waiter, lock);
            assertTrue(lock.contended());
            lock.yieldWrite();
            assertTrue(ran.get(), (writes ? "the writer" : "the reader") + " had its turn");
            assertTrue(lock.writeHeldOnce());
            Waits.join(waiter);
        }
        lock.writeUnlock();
    }
    /**
     * The read side in two halves around a caller's own fence: held after both when no writer is announced (a
     * writer then waits for it); let go by the second when one is, so the caller backs off.
     */
    @Test
    void theReadSideTakenAroundTheCallersFence() throws Exception {
        StripedRwLock lock = new StripedRwLock();
        lock.readLockBeforeFence();
        assertTrue(lock.readLockAfterFence(), "no writer");
        assertTrue(lock.isReadLockedByMe());
        AtomicBoolean wrote = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            lock.writeLock();
            wrote.set(true);
            lock.writeUnlock();
        });
        writer.start();
        Waits.awaitParkedOn(writer, lock);
        assertFalse(wrote.get(), "the writer waits for the reader");
        lock.readUnlock();
        Waits.join(writer);
        assertTrue(wrote.get());

        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1),
                done = new java.util.concurrent.CountDownLatch(1);
        Thread holder = new Thread(() -> {
            lock.writeLock();
            held.countDown();
            Waits.await(done);
            lock.writeUnlock();
        });
        holder.start();
        Waits.await(held);
        lock.readLockBeforeFence();
        assertFalse(lock.readLockAfterFence(), "a writer holds the lock: back off");
        assertFalse(lock.isReadLockedByMe(), "and the read side was let go");
        done.countDown();
        Waits.join(holder);
        lock.readLock();
        lock.readLockBeforeFence(); // nested: held at once
        assertTrue(lock.readLockAfterFence());
        lock.readUnlock();
        lock.readUnlock();
        assertFalse(lock.isReadLockedByMe());
    }
}
