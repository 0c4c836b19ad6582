package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertFalse;
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
            await(release);
            readerLeft.set(true);
            lock.readUnlock();
        });
        reader.start();
        await(readHeld);
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
    void aReaderTakingTheWriteSideWaitsOnlyForOtherReaders() throws InterruptedException {
        CountDownLatch otherHeld = new CountDownLatch(1);
        AtomicBoolean otherLeft = new AtomicBoolean();
        Thread other = new Thread(() -> {
            lock.readLock();
            otherHeld.countDown();
            awaitContended(); // the upgrading writer announced itself
            otherLeft.set(true);
            lock.readUnlock();
        });
        lock.readLock();
        other.start();
        await(otherHeld);
        lock.writeLock(); // counts its own read hold out, waits for the other reader
        boolean sawOther = !otherLeft.get();
        assertTrue(lock.isWriteLockedByMe());
        assertTrue(lock.isReadLockedByMe());
        lock.writeUnlock();
        lock.readUnlock();
        other.join();
        assertFalse(sawOther, "the writer ran while another reader held the lock");
        assertFalse(lock.isReadLockedByMe());
        assertFalse(lock.isWriteLockedByMe());
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
