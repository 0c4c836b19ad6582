package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.spte.Spte;

class RcuTest {
    private final TablePool pool = new TablePool(TableFrames.sequential(0x4000));
    private final Rcu rcu = new Rcu(pool);

    /** A thread that sits inside a read section until released. */
    private final class Reader extends Thread {
        final CountDownLatch inside = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch left = new CountDownLatch(1);

        @Override
        public void run() {
            rcu.readLock();
            inside.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                rcu.readUnlock();
                left.countDown();
            }
        }

        Reader enter() throws InterruptedException {
            start();
            assertTrue(inside.await(5, TimeUnit.SECONDS));
            return this;
        }

        void leave() throws InterruptedException {
            release.countDown();
            assertTrue(left.await(5, TimeUnit.SECONDS));
            join();
        }
    }

    @Test
    void withoutReadersTheTableIsFreedAtOnce() {
        int t = pool.alloc(1, 0, 0);
        rcu.callRcu(t);
        assertEquals(0, rcu.pendingFrees());
        assertFalse(pool.isLive(t));
        assertEquals(t, pool.alloc(1, 0, 0));
    }

    @Test
    void tableQueuedDuringAReadSectionIsNotReusedUntilTheReaderLeaves() throws Exception {
        int t = pool.alloc(2, 0, 0);
        long pfn = pool.pfnOf(t);
        Reader r = new Reader().enter();

        rcu.callRcu(t);
        assertEquals(1, rcu.pendingFrees());
        assertTrue(pool.isLive(t));
        assertEquals(t, pool.idOfPfn(pfn), "still reachable by pfn for the reader");
        int other = pool.alloc(1, 0, 0);
        assertNotEquals(t, other, "a queued table is not handed out again");
        pool.free(other);
        rcu.callRcu(pool.alloc(1, 0, 0)); // more frees do not push the old one through
        assertEquals(2, rcu.pendingFrees());
        assertTrue(pool.isLive(t));

        r.leave(); // the reader's own unlock reclaims
        assertEquals(0, rcu.pendingFrees());
        assertFalse(pool.isLive(t));
        assertEquals(0, pool.idOfPfn(pfn));
    }

    @Test
    void readersThatStartAfterTheQueueDoNotDelayIt() throws Exception {
        int t = pool.alloc(1, 0, 0);
        Reader early = new Reader().enter();
        rcu.callRcu(t);
        Reader late = new Reader().enter();
        assertTrue(pool.isLive(t));
        early.leave();
        assertEquals(0, rcu.pendingFrees(), "the late reader cannot have seen the detached table");
        assertFalse(pool.isLive(t));

        int u = pool.alloc(1, 0, 0);
        rcu.callRcu(u);
        assertTrue(pool.isLive(u), "but it does hold back tables queued while it is inside");
        late.leave();
        assertFalse(pool.isLive(u));
    }

    @Test
    void sectionsNest() {
        int t = pool.alloc(1, 0, 0);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        rcu.readLock();
        rcu.readLock();
        assertTrue(rcu.inReadSection());
        Thread other = new Thread(() -> {
            try {
                rcu.callRcu(t);
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        other.start();
        try {
            other.join();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        rcu.readUnlock();
        assertTrue(rcu.inReadSection());
        assertTrue(pool.isLive(t), "inner unlock does not end the section");
        rcu.readUnlock();
        assertFalse(rcu.inReadSection());
        assertFalse(pool.isLive(t));
        assertEquals(null, failure.get());
        assertThrows(IllegalStateException.class, rcu::readUnlock);
    }

    @Test
    void synchronizeWaitsForActiveReaders() throws Exception {
        int t = pool.alloc(1, 0, 0);
        Reader r = new Reader().enter();
        rcu.callRcu(t);
        CountDownLatch done = new CountDownLatch(1);
        Thread waiter = new Thread(() -> {
            rcu.synchronize();
            done.countDown();
        });
        waiter.start();
        assertFalse(done.await(100, TimeUnit.MILLISECONDS), "synchronize returned while a reader is inside");
        assertTrue(pool.isLive(t));
        r.release.countDown();
        assertTrue(done.await(5, TimeUnit.SECONDS));
        waiter.join();
        r.join();
        assertFalse(pool.isLive(t));
        assertEquals(0, rcu.pendingFrees());

        rcu.readLock();
        try {
            assertThrows(IllegalStateException.class, rcu::synchronize);
        } finally {
            rcu.readUnlock();
        }
    }

    @Test
    void synchronizeWithoutReadersReturns() {
        rcu.synchronize();
        assertEquals(0, rcu.pendingFrees());
    }

    /**
     * Lockless walkers against a writer that keeps linking and detaching subtrees and immediately allocates
     * filler tables of another level: a walker must never find a freed or reused table under its feet.
     */
    @Test
    void locklessWalkersNeverSeeAReusedTable() throws Exception {
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        long top = TablePool.sptep(root, 0);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong walks = new AtomicLong();
        AtomicLong deep = new AtomicLong();
        Thread[] walkers = new Thread[3];
        for (int w = 0; w < walkers.length; w++) {
            walkers[w] = new Thread(() -> {
                TdpIter it = new TdpIter(pool);
                try {
                    while (!stop.get()) {
                        rcu.readLock();
                        try {
                            for (it.start(root, 4, 1, 0, 4, 0); it.valid; it.next()) {
                                if (it.level < 4) {
                                    int table = it.tableAt(it.level);
                                    for (int spin = 0; spin < 20; spin++) {
                                        Thread.onSpinWait();
                                    }
                                    if (!pool.isLive(table) || pool.level(table) != it.level) {
                                        throw new AssertionError("table " + table + " reused under a reader");
                                    }
                                    deep.incrementAndGet();
                                }
                            }
                        } finally {
                            rcu.readUnlock();
                        }
                        walks.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            walkers[w].start();
        }
        for (int round = 0; round < 20_000 && failure.get() == null; round++) {
            int t3 = pool.alloc(3, 0, 0);
            int t2 = pool.alloc(2, 0, 0);
            pool.set(TablePool.sptep(t3, 0), Spte.makeNonLeaf(pool.pfnOf(t2), false));
            pool.setPtep(t2, TablePool.sptep(t3, 0));
            pool.setPtep(t3, top);
            assertTrue(pool.cas(top, Spte.SHADOW_NONPRESENT_VALUE, Spte.makeNonLeaf(pool.pfnOf(t3), false)));
            Thread.onSpinWait();
            pool.xchg(top, Spte.SHADOW_NONPRESENT_VALUE);
            rcu.callRcu(t2);
            rcu.callRcu(t3);
            // Fillers grab any id that was freed too early.
            int f1 = pool.alloc(1, 0, 0);
            int f2 = pool.alloc(1, 0, 0);
            pool.free(f1);
            pool.free(f2);
        }
        stop.set(true);
        for (Thread t : walkers) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        rcu.synchronize();
        assertEquals(0, rcu.pendingFrees());
        assertEquals(1, pool.liveTables());
        assertTrue(walks.get() > 0);
        assertTrue(deep.get() > 0, "walkers did see linked subtrees");
    }
}
