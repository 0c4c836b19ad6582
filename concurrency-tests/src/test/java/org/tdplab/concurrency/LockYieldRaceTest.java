package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.core.scheduler.RandomScheduler;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.sync.StripedRwLock;

/**
 * The MMU lock's {@code rwlock_needbreak} ({@link StripedRwLock#contended}: one read of a waiter count that the
 * lock's slow paths keep, as the kernel's waiters hold {@code wait_lock}) under a long walk that asks it at every
 * step and yields when it says so: a walk holding the write side lets in a writer queued behind it and a reader
 * backing off from it; a walk holding the read side lets in a writer waiting for it to leave. Nobody runs beside a
 * writer, and once all are done the count is back to zero. The walks are bounded: a waiter the count misses keeps the
 * walk from yielding to the end, and the test fails. Fray's random scheduler, not its default (POS), whose priorities
 * can leave a spinning walk the only thread it runs. Fails, each within the first two iterations (checked), with:
 * a writer queued behind another not counted until it holds the lock; a writer waiting out readers not counted; a
 * backing-off reader not counted; the count not dropped once a waiter holds the lock; and a {@code contended} that
 * looks only for a writer other than the caller announced.
 */
@ExtendWith(FrayTestExtension.class)
class LockYieldRaceTest {
    private static final int STEPS = 2000;

    @ConcurrencyTest(iterations = 150, scheduler = RandomScheduler.class)
    void aWriteSideWalkYieldsToAQueuedWriterAndABackingOffReader() throws Exception {
        StripedRwLock lock = new StripedRwLock();
        AtomicBoolean wrote = new AtomicBoolean(), read = new AtomicBoolean();
        AtomicInteger writers = new AtomicInteger();
        Lab.parallel(() -> {
            lock.writeLock();
            expect(writers.incrementAndGet() == 1, "two writers inside");
            for (int step = 0; step < STEPS && !(wrote.get() && read.get()); step++) {
                if (lock.contended()) {
                    writers.decrementAndGet();
                    lock.yieldWrite(); // cond_resched_rwlock_write
                    expect(writers.incrementAndGet() == 1, "two writers inside after a yield");
                } else {
                    Thread.yield();
                }
            }
            writers.decrementAndGet();
            lock.writeUnlock();
            expect(wrote.get(), "a writer queued behind the walk never made it yield");
            expect(read.get(), "a reader backing off from the walk never made it yield");
        }, () -> {
            lock.writeLock();
            expect(writers.incrementAndGet() == 1, "two writers inside");
            wrote.set(true);
            writers.decrementAndGet();
            lock.writeUnlock();
        }, () -> {
            lock.readLock();
            expect(writers.get() == 0, "a reader beside a writer");
            read.set(true);
            lock.readUnlock();
        });
        expect(!lock.contended(), "a waiter still counted once all are done");
    }

    @ConcurrencyTest(iterations = 150, scheduler = RandomScheduler.class)
    void aReadSideWalkYieldsToAWriterWaitingForIt() throws Exception {
        StripedRwLock lock = new StripedRwLock();
        AtomicBoolean wrote = new AtomicBoolean(), reading = new AtomicBoolean();
        Lab.parallel(() -> {
            lock.readLock();
            reading.set(true);
            for (int step = 0; step < STEPS && !wrote.get(); step++) {
                if (lock.contended() && lock.readHeldOnce()) {
                    reading.set(false);
                    lock.yieldRead(); // cond_resched_rwlock_read: the writer goes first
                    reading.set(true);
                } else {
                    Thread.yield();
                }
            }
            reading.set(false);
            lock.readUnlock();
            expect(wrote.get(), "a writer waiting for the walk's read hold never made it yield");
        }, () -> {
            lock.writeLock();
            expect(!reading.get(), "a writer beside a reader");
            wrote.set(true);
            lock.writeUnlock();
        });
        expect(!lock.contended(), "a waiter still counted once all are done");
    }
}
