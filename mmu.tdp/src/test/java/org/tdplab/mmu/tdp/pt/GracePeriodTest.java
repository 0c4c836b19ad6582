package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.sync.Waits;

/**
 * Page-table pages are freed only after a grace period: {@code synchronize_rcu} waits for a reader that was inside
 * its section, the queue of pending frees grows past its first capacity, and a reused table starts clean.
 */
class GracePeriodTest {
    private final TablePool pool = new TablePool(TableFrames.sequential(0x1000));
    private final Rcu rcu = new Rcu(pool);

    @Test
    void synchronizeWaitsForAReaderInsideItsSectionThenFrees() throws InterruptedException {
        int table = pool.alloc(1, 0, 0);
        CountDownLatch inside = new CountDownLatch(1), leave = new CountDownLatch(1);
        Thread reader = readerInside(rcu, inside, leave);
        Waits.await(inside);
        rcu.callRcu(table);
        assertTrue(pool.isLive(table), "a reader may still be inside the table");
        assertEquals(1, rcu.pendingFrees());
        Thread sync = new Thread(rcu::synchronize);
        sync.start();
        Thread.State s;
        // synchronize spins briefly, then parks (a while at a time) until the reader's exit wakes it
        while ((s = sync.getState()) != Thread.State.TIMED_WAITING && s != Thread.State.TERMINATED)
            Thread.onSpinWait();
        assertEquals(Thread.State.TIMED_WAITING, s, "synchronize returned while a reader was inside");
        Thread.sleep(1); // it looked again (every 50 µs) and parked again: the reader is still inside
        assertTrue(sync.isAlive(), "synchronize returned while a reader was inside");
        assertTrue(pool.isLive(table));
        leave.countDown();
        reader.join();
        sync.join();
        assertFalse(pool.isLive(table), "freed once the grace period ended");
        assertEquals(0, rcu.pendingFrees());
        assertEquals(0, pool.liveTables());
    }

    @Test
    void manyPendingFreesWaitForTheReaderAndAllGoBack() throws InterruptedException {
        int n = 200;
        int[] tables = new int[n];
        for (int i = 0; i < n; i++)
            tables[i] = pool.alloc(1, i * 512L, 0);
        CountDownLatch inside = new CountDownLatch(1), leave = new CountDownLatch(1);
        Thread reader = readerInside(rcu, inside, leave);
        Waits.await(inside);
        for (int i = 0; i < n; i++) {
            rcu.callRcu(tables[i]);
            assertEquals(i + 1, rcu.pendingFrees());
        }
        assertEquals(n, pool.liveTables(), "nothing freed under the reader");
        leave.countDown();
        reader.join();
        rcu.synchronize();
        assertEquals(0, rcu.pendingFrees());
        assertEquals(0, pool.liveTables());
        for (int t : tables)
            assertFalse(pool.isLive(t));
        // the queue keeps working after it drained
        int again = pool.alloc(1, 0, 0);
        rcu.callRcu(again);
        assertEquals(0, rcu.pendingFrees(), "no reader: freed at once");
        assertFalse(pool.isLive(again));
    }

    @Test
    void aReusedTableStartsWithoutItsParentHandleOrRootFlag() {
        int a = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        assertTrue(pool.isRoot(a));
        pool.setPtep(a, TablePool.sptep(a, 3));
        pool.setExternal(a, 0xabc);
        pool.free(a);
        assertFalse(pool.isLive(a));
        int b = pool.alloc(1, 0x200, 0);
        assertEquals(a, b, "freed ids are reused");
        assertEquals(0, pool.ptep(b));
        assertEquals(0, pool.external(b));
        assertFalse(pool.isRoot(b));
        assertEquals(1, pool.level(b));
        assertEquals(0x200, pool.gfn(b));
        assertFalse(pool.isLive(0), "id 0 means none");
        assertFalse(pool.isLive(-1));
        assertFalse(pool.isLive(1 << 30));
    }

    @Test
    void aRootWhoseCountReachedZeroCannotBeTakenAgain() {
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        assertFalse(pool.tryGetRoot(root), "count 0");
        assertEquals(0, pool.rootCount(root));
        pool.setRootCount(root, 1);
        assertTrue(pool.tryGetRoot(root));
        assertEquals(2, pool.rootCount(root));
        assertEquals(1, pool.putRoot(root));
        assertEquals(0, pool.putRoot(root));
        assertFalse(pool.tryGetRoot(root));
        assertEquals(0, pool.rootCount(root));
    }


    /**
     * The reader's exit wakes a parked synchronize: with the periodic look stretched to an hour, nothing else could
     * end the wait within the test's timeout.
     */
    @Test
    @org.junit.jupiter.api.Timeout(10)
    void theReadersExitWakesAParkedSynchronize() throws InterruptedException {
        Rcu slow = new Rcu(pool, java.util.concurrent.TimeUnit.HOURS.toNanos(1));
        CountDownLatch inside = new CountDownLatch(1), leave = new CountDownLatch(1);
        Thread reader = readerInside(slow, inside, leave);
        Waits.await(inside);
        Thread sync = new Thread(slow::synchronize);
        sync.start();
        while (sync.getState() != Thread.State.TIMED_WAITING)
            Thread.onSpinWait();
        leave.countDown();
        reader.join();
        sync.join();
    }

    /** A started thread inside a read section of {@code r}: it counts {@code inside} down, leaves on {@code leave}. */
    private static Thread readerInside(Rcu r, CountDownLatch inside, CountDownLatch leave) {
        Thread reader = new Thread(() -> {
            r.readLock();
            inside.countDown();
            Waits.await(leave);
            r.readUnlock();
        });
        reader.start();
        return reader;
    }
}
