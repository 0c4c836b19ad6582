package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The module's lock with its shared side striped per thread: who excludes whom, and the counts it is built on. */
@Timeout(60)
class ModuleLockTest {

    @Test
    void theExclusiveSideWaitsForAHolderOfTheSharedSideOnAnotherThread() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        exclusiveWaitsForAHoldAndASecondWaitsBehindIt(lock, () -> {
            var row = lock.lockShared();
            return () -> lock.unlockShared(row);
        }, () -> {
            var row = lock.lockShared();
            return () -> lock.unlockShared(row);
        });
    }

    @Test
    void theExclusiveSideWaitsForAVcpusHoldAndAReaderOfAVcpuWaitsBehindIt() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        exclusiveWaitsForAHoldAndASecondWaitsBehindIt(lock, () -> {
            lock.lockShared(1); // the ACCEPT of vCPU 1: counted in its cell, not in a row
            return () -> lock.unlockShared(1);
        }, () -> {
            lock.lockShared(0);
            return () -> lock.unlockShared(0);
        });
        lock.lockExclusive(); // the exclusive holder's hold of a vCPU is no hold, and no count is left behind
        lock.lockShared(0);
        lock.unlockShared(0);
        lock.unlockExclusive();
        lock.lockExclusive();
        lock.unlockExclusive();
    }

    @Test
    void theTdsChildCountSumsWhatSharedHoldersAddedInTheirRowsAndWhatTheExclusiveSideAdded() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        ChildCount c = new ChildCount(lock);
        Runnable aug = () -> {
            for (int k = 0; k < 1000; k++) {
                var row = lock.lockShared();
                c.add(row, 1);
                lock.unlockShared(row);
            }
        };
        Thread a = new Thread(aug), b = new Thread(aug);
        a.start();
        b.start();
        a.join();
        b.join();
        lock.lockExclusive();
        c.add(-3); // a REMOVE
        assertEquals(1997, c.sum());
        c.set(7); // a restore
        assertEquals(7, c.sum());
        lock.unlockExclusive();
        lock.lockExclusive(); // the count shares the rows with the holds: a hold's count is untouched by it
        lock.unlockExclusive();
    }

    @Test
    void manyThreadsSharingSlotsLeaveTheLockFree() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        Thread[] t = new Thread[40]; // more threads than slots: some count in the same slot
        CountDownLatch all = new CountDownLatch(t.length), go = new CountDownLatch(1);
        for (int i = 0; i < t.length; i++) {
            t[i] = new Thread(() -> {
                for (int k = 0; k < 2000; k++) {
                    var row = lock.lockShared();
                    if (k == 0) {
                        all.countDown();
                        await(go); // every thread holds the shared side at once
                    }
                    lock.unlockShared(row);
                }
            });
            t[i].start();
        }
        all.await();
        go.countDown();
        for (Thread x : t)
            x.join();
        lock.lockExclusive(); // would spin forever if a count were left behind
        var row = lock.lockShared(); // the exclusive holder's shared hold is no hold
        lock.unlockShared(row);
        lock.unlockExclusive();
    }

    @Test
    void exclusiveHoldersOnTwoThreadsNeverOverlapAndTheSideNests() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        int[] counter = { 0 };
        AtomicBoolean inside = new AtomicBoolean(), overlapped = new AtomicBoolean();
        Runnable work = () -> {
            for (int k = 0; k < 20_000; k++) {
                lock.lockExclusive();
                lock.lockExclusive(); // nested: one hold more, let go below
                if (inside.getAndSet(true))
                    overlapped.set(true);
                counter[0]++; // a plain increment: only mutual exclusion keeps it exact
                inside.set(false);
                lock.unlockExclusive();
                lock.unlockExclusive();
            }
        };
        Thread a = new Thread(work), b = new Thread(work);
        a.start();
        b.start();
        a.join();
        b.join();
        assertFalse(overlapped.get(), "two threads held the exclusive side at once");
        lock.lockExclusive(); // orders the counter's last writes before this read
        assertEquals(40_000, counter[0]);
        lock.unlockExclusive();
        assertFalse(lock.hasWaiters());
    }

    @Test
    void aThreadWaitingForTheExclusiveHolderGivesItsCoreAway() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        lock.lockExclusive();
        AtomicBoolean sharedTaken = new AtomicBoolean();
        Thread reader = new Thread(() -> {
            var row = lock.lockShared();
            sharedTaken.set(true);
            lock.unlockShared(row);
        });
        reader.start();
        // after a short spin the waiter parks on the lock (a bound for a hang, no timing)
        long end = System.nanoTime() + 60_000_000_000L;
        while (LockSupport.getBlocker(reader) != lock && reader.isAlive()
                && System.nanoTime() < end)
            Thread.onSpinWait();
        assertEquals(lock, LockSupport.getBlocker(reader), "the waiter never parked");
        assertFalse(sharedTaken.get());
        lock.unlockExclusive();
        reader.join();
        assertTrue(sharedTaken.get());
    }

    @Test
    void aThreadThatDoesNotHoldTheExclusiveSideCannotLetItGo() {
        ModuleLock lock = new ModuleLock(2);
        assertThrows(IllegalMonitorStateException.class, lock::unlockExclusive);
        lock.lockExclusive();
        lock.unlockExclusive();
        assertThrows(IllegalMonitorStateException.class, lock::unlockExclusive, "let go once too often");
    }

    private static void await(CountDownLatch l) {
        try {
            l.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * A shared hold taken by {@code first} on one thread; an exclusive side that takes the owner word and waits for
     * it; a second shared hold ({@code second}) arriving then backs off behind the waiting exclusive side. Each hold
     * returns its release.
     */
    private static void exclusiveWaitsForAHoldAndASecondWaitsBehindIt(ModuleLock lock,
            Supplier<Runnable> first, Supplier<Runnable> second)
            throws Exception {
        CountDownLatch held = new CountDownLatch(1), release = new CountDownLatch(1);
        Thread holder = new Thread(() -> {
            Runnable unlock = first.get();
            held.countDown();
            await(release);
            unlock.run();
        });
        holder.start();
        held.await();
        AtomicBoolean exclusiveTaken = new AtomicBoolean(), sharedTaken = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            lock.lockExclusive();
            exclusiveTaken.set(true);
            lock.unlockExclusive();
        });
        writer.start();
        // the writer has the owner word and waits for the holder (a loaded machine may run the reader first else)
        for (long end = System.nanoTime() + 60_000_000_000L; !lock.exclusiveTaken() && System.nanoTime() < end;)
            Thread.onSpinWait();
        assertTrue(lock.exclusiveTaken(), "the writer never took the owner word");
        // a second holder arriving now backs off behind the waiting exclusive side: its wait shows it is waiting
        Thread reader = new Thread(() -> {
            Runnable unlock = second.get();
            sharedTaken.set(true);
            unlock.run();
        });
        reader.start();
        LockWaits.awaitWaiter(lock, reader);
        assertFalse(exclusiveTaken.get(), "the exclusive side was taken while another thread held the shared one");
        assertFalse(sharedTaken.get(), "a holder went past an exclusive side waiting for the holds before it");
        release.countDown();
        writer.join();
        reader.join();
        holder.join();
        assertTrue(exclusiveTaken.get());
        assertTrue(sharedTaken.get());
    }
}
