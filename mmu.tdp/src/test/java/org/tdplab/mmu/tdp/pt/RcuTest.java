package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
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

    /** Only the outermost exit of a nested section ends the grace period and wakes a parked synchronize. */
    @Test
    void aNestedExitDoesNotEndTheGracePeriod() throws Exception {
        CountDownLatch inside = new CountDownLatch(1), innerLeft = new CountDownLatch(1);
        CountDownLatch releaseInner = new CountDownLatch(1), releaseOuter = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            rcu.readLock();
            rcu.readLock();
            inside.countDown();
            try {
                releaseInner.await();
                rcu.readUnlock();
                innerLeft.countDown();
                releaseOuter.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                rcu.readUnlock();
            }
        });
        reader.start();
        assertTrue(inside.await(5, TimeUnit.SECONDS));
        int t = pool.alloc(1, 0, 0);
        rcu.callRcu(t);
        CountDownLatch done = new CountDownLatch(1);
        Thread waiter = new Thread(() -> {
            rcu.synchronize();
            done.countDown();
        });
        waiter.start();
        releaseInner.countDown();
        assertTrue(innerLeft.await(5, TimeUnit.SECONDS));
        assertFalse(done.await(100, TimeUnit.MILLISECONDS), "synchronize returned after an inner exit");
        assertTrue(pool.isLive(t));
        releaseOuter.countDown();
        assertTrue(done.await(5, TimeUnit.SECONDS), "the outermost exit did not wake synchronize");
        waiter.join();
        reader.join();
        assertFalse(pool.isLive(t));
        assertEquals(0, rcu.pendingFrees());
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
        walkersAgainstDetachAndReuse(0);
    }

    /**
     * The same with two threads spinning on the CPU, as when another heavy test runs alongside on a small machine.
     * This used to fail now and then, not because a table was reused but because no walker ever happened to look
     * while a subtree was linked, so the check never ran.
     */
    @Test
    void locklessWalkersNeverSeeAReusedTableUnderCpuLoad() throws Exception {
        walkersAgainstDetachAndReuse(2);
    }

    private void walkersAgainstDetachAndReuse(int spinners) throws Exception {
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        long top = TablePool.sptep(root, 0);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong walks = new AtomicLong();
        AtomicLong entered = new AtomicLong();
        AtomicInteger inside = new AtomicInteger();
        AtomicLong deep = new AtomicLong();
        long overlaps = 0;
        Thread[] load = startSpinners(spinners, stop);
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
                                    inside.incrementAndGet();
                                    entered.incrementAndGet();
                                    for (int spin = 0; spin < 20; spin++) {
                                        Thread.onSpinWait();
                                    }
                                    if (!pool.isLive(table) || pool.level(table) != it.level) {
                                        throw new AssertionError("table " + table + " reused under a reader");
                                    }
                                    inside.decrementAndGet();
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
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        try {
            for (int round = 0; (round < 5_000 || overlaps == 0) && failure.get() == null
                    && System.nanoTime() - deadline < 0; round++) {
                int t3 = pool.alloc(3, 0, 0);
                int t2 = pool.alloc(2, 0, 0);
                pool.set(TablePool.sptep(t3, 0), Spte.makeNonLeaf(pool.pfnOf(t2), false));
                pool.setPtep(t2, TablePool.sptep(t3, 0));
                pool.setPtep(t3, top);
                assertTrue(pool.cas(top, Spte.SHADOW_NONPRESENT_VALUE, Spte.makeNonLeaf(pool.pfnOf(t3), false)));
                // Keep the subtree linked until a walker steps into it (for a bounded time), so that the detach and
                // the reuse below race with a walker that holds the table. A fixed one-pause window is hit only by
                // luck, and under CPU load often never: the check then never ran and the test failed for that.
                long seen = entered.get();
                for (int spin = 0; spin < 200 && entered.get() == seen; spin++) {
                    Thread.onSpinWait();
                }
                pool.xchg(top, Spte.SHADOW_NONPRESENT_VALUE);
                if (inside.get() > 0) {
                    overlaps++;
                }
                rcu.callRcu(t2);
                rcu.callRcu(t3);
                // Fillers grab any id that was freed too early.
                int f1 = pool.alloc(1, 0, 0);
                int f2 = pool.alloc(1, 0, 0);
                pool.free(f1);
                pool.free(f2);
            }
        } finally {
            stop.set(true);
            for (Thread t : walkers) {
                t.join();
            }
            for (Thread t : load) {
                t.join();
            }
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        rcu.synchronize();
        assertEquals(0, rcu.pendingFrees());
        assertEquals(1, pool.liveTables());
        assertTrue(walks.get() > 0);
        assertTrue(deep.get() > 0, "walkers did see linked subtrees");
        assertTrue(overlaps > 0, "subtrees were detached while a walker was inside");
    }

    /**
     * A harder mix, bounded in time: two writers detaching subtrees concurrently (so {@link Rcu#callRcu} races
     * with itself), frames handed out again independently of table ids (so a pfn names different tables over
     * time), fillers, and a reader that sits in one read section while a few thousand tables pile up behind it,
     * which grows the pool by dozens of chunks and forces the pfn map to rehash while walkers are reading it.
     * Walkers check identity, not just level: a per-allocation token and the parent pointer must not change.
     */
    @Test
    void walkersSurviveChunkGrowthMapRehashAndFrameReuse() throws Exception {
        ArrayDeque<Long> freeFrames = new ArrayDeque<>();
        long[] nextFrame = {0x10000};
        // Called under the pool's allocation lock.
        TablePool pool = new TablePool(new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                Long pfn = freeFrames.pollLast();
                if (pfn != null) {
                    return pfn;
                }
                long f = nextFrame[0];
                nextFrame[0] += 4097;
                return f;
            }

            @Override
            public void freeFrame(long pfn) {
                freeFrames.addLast(pfn);
            }
        });
        Rcu rcu = new Rcu(pool);
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        long span = Spte.pagesPerHpage(4);
        int writers = 2;
        int pileUp = 2_500;
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong tokens = new AtomicLong(1);
        AtomicLong deep = new AtomicLong();
        AtomicInteger held = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < 3; w++) {
            long seed = w;
            threads.add(new Thread(() -> {
                TdpIter it = new TdpIter(pool);
                Random rnd = new Random(seed);
                try {
                    while (!stop.get() && failure.get() == null) {
                        rcu.readLock();
                        try {
                            for (it.start(root, 4, 1, 0, writers * span, 0); it.valid; it.next()) {
                                if (it.level == 4) {
                                    continue;
                                }
                                int table = it.tableAt(it.level);
                                long token = pool.external(table);
                                long ptep = pool.ptep(table);
                                for (int spin = rnd.nextInt(16); spin > 0; spin--) {
                                    Thread.onSpinWait();
                                }
                                if (token == 0 || ptep != it.sptepAt(it.level + 1) || !pool.isLive(table)
                                        || pool.level(table) != it.level || pool.external(table) != token
                                        || pool.ptep(table) != ptep) {
                                    throw new AssertionError("table " + table + " at level " + it.level
                                            + " reused under a reader: live " + pool.isLive(table) + ", level "
                                            + pool.level(table) + ", token " + token + " -> " + pool.external(table)
                                            + ", ptep " + ptep + " -> " + pool.ptep(table));
                                }
                                deep.incrementAndGet();
                            }
                        } finally {
                            rcu.readUnlock();
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        for (int k = 0; k < writers; k++) {
            long top = TablePool.sptep(root, k);
            long base = k * span;
            long seed = 100 + k;
            threads.add(new Thread(() -> {
                Random rnd = new Random(seed);
                int[] t2s = new int[3];
                int[] fillers = new int[16];
                try {
                    while (!stop.get() && failure.get() == null) {
                        int t3 = pool.alloc(3, base, 0);
                        pool.setExternal(t3, tokens.getAndIncrement());
                        int n2 = 1 + rnd.nextInt(t2s.length);
                        for (int j = 0; j < n2; j++) {
                            int t2 = pool.alloc(2, base + j * Spte.pagesPerHpage(3), 0);
                            pool.setExternal(t2, tokens.getAndIncrement());
                            pool.setPtep(t2, TablePool.sptep(t3, j));
                            pool.set(TablePool.sptep(t3, j), Spte.makeNonLeaf(pool.pfnOf(t2), false));
                            t2s[j] = t2;
                        }
                        pool.setPtep(t3, top);
                        assertTrue(pool.cas(top, Spte.SHADOW_NONPRESENT_VALUE,
                                Spte.makeNonLeaf(pool.pfnOf(t3), false)));
                        for (int spin = rnd.nextInt(64); spin > 0; spin--) {
                            Thread.onSpinWait();
                        }
                        pool.xchg(top, Spte.SHADOW_NONPRESENT_VALUE);
                        for (int j = 0; j < n2; j++) {
                            rcu.callRcu(t2s[j]);
                        }
                        rcu.callRcu(t3);
                        int nf = rnd.nextInt(fillers.length);
                        for (int j = 0; j < nf; j++) {
                            fillers[j] = pool.alloc(1 + rnd.nextInt(3), 0, 0);
                        }
                        for (int j = 0; j < nf; j++) {
                            pool.free(fillers[j]);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        // Holds a read section until thousands of detached tables wait behind it, then lets them go.
        threads.add(new Thread(() -> {
            try {
                while (!stop.get() && failure.get() == null) {
                    boolean piledUp;
                    rcu.readLock();
                    try {
                        while (pool.liveTables() < pileUp && !stop.get()) {
                            Thread.sleep(1);
                        }
                        piledUp = pool.liveTables() >= pileUp;
                    } finally {
                        rcu.readUnlock();
                    }
                    if (piledUp) {
                        held.incrementAndGet();
                    }
                    Thread.sleep(5);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        }));
        threads.forEach(Thread::start);
        // Runs until the pile-up happened twice and walkers saw subtrees (at least 1 s of stress); the 60 s bound is
        // only a safety net for a machine so loaded that the writers never get there, not the test's duration.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        try {
            long minimum = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1_000);
            while (failure.get() == null && System.nanoTime() - deadline < 0
                    && (System.nanoTime() - minimum < 0 || held.get() < 2 || deep.get() == 0)) {
                Thread.sleep(10);
            }
        } finally {
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        rcu.synchronize();
        assertEquals(0, rcu.pendingFrees());
        assertEquals(1, pool.liveTables());
        assertTrue(held.get() > 0, "tables piled up behind a long read section");
        assertTrue(pool.chunkCount() >= pileUp / TablePool.TABLES_PER_CHUNK, "the pool grew while walkers read");
        assertTrue(deep.get() > 0, "walkers did see linked subtrees");
    }

    /** Threads that keep a CPU busy until {@code stop} is set. */
    private static Thread[] startSpinners(int n, AtomicBoolean stop) {
        Thread[] ts = new Thread[n];
        for (int i = 0; i < n; i++) {
            ts[i] = new Thread(() -> {
                while (!stop.get()) {
                    Thread.onSpinWait();
                }
            });
            ts[i].setDaemon(true);
            ts[i].start();
        }
        return ts;
    }

    /** Frees are counted exactly while a reader holds part of the queue, and a long queue grows and drains. */
    @Test
    void pendingFreesFollowsPartialReclaimAndALongQueue() throws Exception {
        Reader older = new Reader().enter();
        int first = pool.alloc(1, 0, 0);
        rcu.callRcu(first);
        Reader newer = new Reader().enter(); // announces after the first table's tag
        int second = pool.alloc(1, 0, 0);
        rcu.callRcu(second);
        assertEquals(2, rcu.pendingFrees());
        older.leave(); // the first table's grace period ended, the second's did not
        assertEquals(1, rcu.pendingFrees());
        assertFalse(pool.isLive(first));
        assertTrue(pool.isLive(second));
        int third = pool.alloc(1, 0, 0);
        rcu.callRcu(third);
        assertEquals(2, rcu.pendingFrees());

        List<Integer> many = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            int id = pool.alloc(1, 0, 0);
            many.add(id);
            rcu.callRcu(id);
        }
        assertEquals(202, rcu.pendingFrees());
        newer.leave();
        assertEquals(0, rcu.pendingFrees());
        for (int id : many)
            assertFalse(pool.isLive(id));
    }

    /**
     * Two threads whose ids share a slot of the fast reader table: each finds its own reader, not the one the slot
     * holds.
     */
    @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
    @Test
    void threadsSharingAFastSlotKeepTheirOwnSections() throws Exception {
        rcu.readLock();
        try {
            long mine = Thread.currentThread().getId() & 63;
            AtomicReference<Boolean> seen = new AtomicReference<>();
            Thread other = null;
            for (int i = 0; i < 200 && other == null; i++) {
                Thread t = new Thread(() -> seen.set(rcu.inReadSection()));
                if ((t.getId() & 63) == mine)
                    other = t;
            }
            other.start();
            other.join();
            assertEquals(Boolean.FALSE, seen.get(), "the other thread is not inside this thread's section");
        } finally {
            rcu.readUnlock();
        }
    }
}
