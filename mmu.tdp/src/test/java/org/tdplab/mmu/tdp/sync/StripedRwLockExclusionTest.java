package org.tdplab.mmu.tdp.sync;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

/**
 * The MMU lock's exclusion, with a second thread really waiting: a writer waits for readers (its own read hold
 * counted out), readers wait for a writer, and a waiter shows as contention ({@code rwlock_needbreak}). No timing:
 * each side waits for the other's observable state.
 */
class StripedRwLockExclusionTest {
    private final StripedRwLock lock = new StripedRwLock();

    private void awaitContended() {
        while (!lock.contended())
            Thread.onSpinWait();
    }

    @Test
    void aWriterWaitsForTheReaderToLeave() throws InterruptedException {
        CountDownLatch readHeld = new CountDownLatch(1), release = new CountDownLatch(1);
        AtomicBoolean readerLeft = new AtomicBoolean(), writerSawReader = new AtomicBoolean();
        Thread reader = new Thread(() -> {
            lock.readLock();
            readHeld.countDown();
            Waits.await(release);
            readerLeft.set(true);
            lock.readUnlock();
        });
        reader.start();
        Waits.await(readHeld);
        AtomicBoolean writerIn = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            lock.writeLock();
            writerIn.set(true);
            writerSawReader.set(!readerLeft.get());
            lock.writeUnlock();
        });
        writer.start();
        awaitContended(); // the writer announced itself
        assertFalse(writerIn.get(), "the writer got in beside a reader");
        release.countDown();
        reader.join();
        writer.join();
        assertTrue(writerIn.get());
        assertFalse(writerSawReader.get(), "the writer ran while the reader still held the lock");
        assertFalse(lock.contended());
    }

    @Test
    void aReaderWaitsForTheWriterAndShowsAsContention() throws InterruptedException {
        lock.writeLock();
        assertFalse(lock.contended(), "nobody waits");
        AtomicBoolean readerIn = new AtomicBoolean();
        Thread reader = new Thread(() -> {
            lock.readLock();
            readerIn.set(true);
            lock.readUnlock();
        });
        reader.start();
        awaitContended();
        assertFalse(readerIn.get(), "a reader got in beside the writer");
        assertTrue(lock.writeHeldOnce());
        lock.writeUnlock();
        reader.join();
        assertTrue(readerIn.get());
        assertFalse(lock.contended());
    }

    @Test
    void aWriterWaitingForTheLockShowsAsContention() throws InterruptedException {
        lock.writeLock();
        lock.writeLock();
        assertFalse(lock.writeHeldOnce(), "held twice: dropping once does not release it");
        lock.writeUnlock();
        assertTrue(lock.writeHeldOnce());
        AtomicBoolean otherIn = new AtomicBoolean();
        Thread other = new Thread(() -> {
            lock.writeLock();
            otherIn.set(true);
            lock.writeUnlock();
        });
        other.start();
        awaitContended();
        assertFalse(otherIn.get());
        lock.writeUnlock();
        other.join();
        assertTrue(otherIn.get());
    }

    @Test
    void aReaderTakingTheWriteSideIsRefusedAndKeepsWhatItHeld() throws InterruptedException {
        lock.readLock();
        IllegalStateException e = assertThrows(IllegalStateException.class, lock::writeLock);
        assertTrue(e.getMessage().contains("deadlock"), e.getMessage());
        assertTrue(lock.isReadLockedByMe());
        assertFalse(lock.isWriteLockedByMe());
        lock.readUnlock();
        Thread other = new Thread(() -> { // nothing of the refused attempt is left: another thread takes the write side
            lock.writeLock();
            lock.writeUnlock();
        });
        other.start();
        other.join();
        lock.writeLock(); // and a writer may take the read side, and the write side again
        lock.readLock();
        lock.writeLock();
        lock.writeUnlock();
        lock.readUnlock();
        lock.writeUnlock();
        assertFalse(lock.isReadLockedByMe());
        assertFalse(lock.isWriteLockedByMe());
    }

    /** A thread that takes the read side, says so, and holds it until told to drop it; it then ends. */
    private final class Holder extends Thread {
        final CountDownLatch held = new CountDownLatch(1), release = new CountDownLatch(1);
        volatile boolean left;

        @Override
        public void run() {
            lock.readLock();
            held.countDown();
            Waits.await(release);
            left = true;
            lock.readUnlock();
        }

        Holder hold() {
            start();
            guard(held);
            return this;
        }

        void drop() throws InterruptedException {
            release.countDown();
            join();
        }
    }

    /** A writer started now must wait for {@code last} to drop the read side, and gets in after. */
    private void writerWaitsFor(Holder last) throws InterruptedException {
        AtomicBoolean writerIn = new AtomicBoolean(), writerSawReader = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            lock.writeLock();
            writerIn.set(true);
            writerSawReader.set(!last.left);
            lock.writeUnlock();
        });
        writer.start();
        awaitContended();
        assertFalse(writerIn.get(), "the writer got in beside a reader");
        last.drop();
        writer.join();
        assertTrue(writerIn.get());
        assertFalse(writerSawReader.get(), "the writer ran while a reader still held the lock");
    }

    /**
     * Beyond the 32 threads that own a slot, readers share slots by thread id and count in them: two readers in one
     * shared slot are two holds, and the first one leaving does not let a writer in beside the second.
     */
    @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
    @Test
    void readersSharingASlotAreEachCounted() throws InterruptedException {
        java.util.List<Holder> owners = new java.util.ArrayList<>();
        for (int i = 0; i < 32; i++)
            owners.add(new Holder().hold());
        Holder first = new Holder(), second = null;
        for (int i = 0; i < 100 && second == null; i++) {
            Holder h = new Holder();
            if ((h.getId() & 31) == (first.getId() & 31))
                second = h;
        }
        first.hold();
        second.hold();
        for (Holder h : owners)
            h.drop();
        first.drop();
        writerWaitsFor(second);
    }

    /** A slot whose owner is alive stays its own even when it holds nothing at the moment. */
    @Test
    void aLiveOwnersSlotIsNotGivenAway() throws InterruptedException {
        CountDownLatch once = new CountDownLatch(1), again = new CountDownLatch(1), done = new CountDownLatch(1);
        Thread owner = new Thread(() -> {
            lock.readLock();
            lock.readUnlock(); // owns slot 0, holds nothing, stays alive
            once.countDown();
            Waits.await(again);
            lock.readLock();
            lock.readUnlock();
            done.countDown();
        });
        owner.start();
        guard(once);
        Holder other = new Holder().hold(); // a slot of its own, not the live owner's
        again.countDown();
        guard(done);
        owner.join();
        writerWaitsFor(other);
    }

    /** Two threads whose ids share a slot of the fast holder table each see only their own holds. */
    @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
    @Test
    void threadsSharingAFastSlotSeeTheirOwnHolds() throws InterruptedException {
        lock.readLock();
        try {
            long mine = Thread.currentThread().getId() & 63;
            AtomicBoolean seen = new AtomicBoolean(true);
            Thread other = null;
            for (int i = 0; i < 200 && other == null; i++) {
                Thread t = new Thread(() -> seen.set(lock.isReadLockedByMe()));
                if ((t.getId() & 63) == mine)
                    other = t;
            }
            other.start();
            other.join();
            assertFalse(seen.get(), "another thread took this thread's read hold for its own");
        } finally {
            lock.readUnlock();
        }
    }

    /** A latch that must open; a hang (a broken lock) fails the test instead of the build. */
    private static void guard(CountDownLatch latch) {
        try {
            assertTrue(latch.await(60, java.util.concurrent.TimeUnit.SECONDS), "never happened");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
