package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class TablePoolTest {

    /** Scattered frames with reuse, so the pfn map sees removals and re-insertions. */
    static final class ScatteredFrames implements TableFrames {
        private final Set<Long> used = ConcurrentHashMap.newKeySet();
        private final List<Long> freed = new ArrayList<>();
        private long next = 0x10_0000;

        @Override
        public synchronized long allocFrame(int tableId) {
            long pfn = freed.isEmpty() ? (next += 7919) : freed.remove(freed.size() - 1);
            assertTrue(used.add(pfn), "frame handed out twice");
            return pfn;
        }

        @Override
        public synchronized void freeFrame(long pfn) {
            assertTrue(used.remove(pfn), "freeing a frame not in use");
            freed.add(pfn);
        }

        int inUse() {
            return used.size();
        }
    }

    @Test
    void sptepPacking() {
        long p = TablePool.sptep(12345, 511);
        assertEquals((12345L << 9) | 511, p);
        assertEquals(12345, TablePool.tableOf(p));
        assertEquals(511, TablePool.indexOf(p));
        assertEquals(7, TablePool.tableOf(TablePool.sptep(7, 0)));
        assertEquals(0, TablePool.indexOf(TablePool.sptep(7, 0)));
    }

    @Test
    void allocFillsTablesAndRecordsHeader() {
        TablePool pool = new TablePool(TableFrames.sequential(0x1000));
        int a = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        int b = pool.alloc(3, 0x40000, TablePool.ROLE_MIRROR);
        assertEquals(1, a);
        assertEquals(2, b);
        assertEquals(4, pool.level(a));
        assertEquals(3, pool.level(b));
        assertEquals(0x40000, pool.gfn(b));
        assertTrue(pool.isRoot(a));
        assertFalse(pool.isMirror(a));
        assertTrue(pool.isMirror(b));
        assertEquals(0, pool.ptep(b));
        assertEquals(0, pool.external(b));
        assertEquals(0x1001, pool.pfnOf(a));
        assertEquals(0x1002, pool.pfnOf(b));
        assertEquals(a, pool.idOfPfn(0x1001));
        assertEquals(b, pool.idOfPfn(0x1002));
        assertEquals(0, pool.idOfPfn(0x1003));
        for (int i = 0; i < 512; i++) {
            assertEquals(SHADOW_NONPRESENT_VALUE, pool.get(TablePool.sptep(a, i)));
            assertEquals(SHADOW_NONPRESENT_VALUE, pool.get(TablePool.sptep(b, i)));
        }
        assertEquals(2, pool.liveTables());
        assertEquals(2 * 4096, pool.bytes());
        assertTrue(pool.isLive(a));
        assertFalse(pool.isLive(0));
        assertFalse(pool.isLive(3));
        assertFalse(pool.isLive(1 << 20));
        assertFalse(pool.isLive(4 << 6), "the first id past the chunks the pool has");
    }

    /** {@code refcount_inc_not_zero} under contention: every successful get is one reference more. */
    @Test
    void concurrentRootGetsEachTakeOneReference() throws Exception {
        TablePool pool = new TablePool(TableFrames.sequential(0x1000));
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        pool.setRootCount(root, 1);
        int perThread = 20_000;
        Thread[] ts = new Thread[2];
        java.util.concurrent.atomic.AtomicInteger got = new java.util.concurrent.atomic.AtomicInteger();
        for (int t = 0; t < ts.length; t++) {
            ts[t] = new Thread(() -> {
                for (int i = 0; i < perThread; i++)
                    if (pool.tryGetRoot(root))
                        got.incrementAndGet();
            });
            ts[t].start();
        }
        for (Thread t : ts)
            t.join();
        assertEquals(2 * perThread, got.get());
        assertEquals(1 + 2 * perThread, pool.rootCount(root));
    }

    @Test
    void entryAccessors() {
        TablePool pool = new TablePool(TableFrames.sequential(0));
        int t = pool.alloc(1, 0, 0);
        long p = TablePool.sptep(t, 17);
        pool.set(p, 5);
        assertEquals(5, pool.get(p));
        assertFalse(pool.cas(p, 4, 6));
        assertEquals(5, pool.get(p));
        assertTrue(pool.cas(p, 5, 6));
        assertEquals(6, pool.get(p));
        assertEquals(6, pool.cmpxchg(p, 9, 10));
        assertEquals(6, pool.cmpxchg(p, 6, 10));
        assertEquals(10, pool.xchg(p, 11));
        assertEquals(11, pool.get(p));
        assertEquals(SHADOW_NONPRESENT_VALUE, pool.get(TablePool.sptep(t, 16)), "neighbours untouched");
        assertEquals(SHADOW_NONPRESENT_VALUE, pool.get(TablePool.sptep(t, 18)));
    }

    @Test
    void freeReusesIdsAndRefillsEntries() {
        ScatteredFrames frames = new ScatteredFrames();
        TablePool pool = new TablePool(frames);
        int a = pool.alloc(1, 0, 0);
        int b = pool.alloc(1, 512, 0);
        long pfnB = pool.pfnOf(b);
        pool.set(TablePool.sptep(b, 3), 0x1234);
        pool.free(b);
        assertFalse(pool.isLive(b));
        assertEquals(0, pool.idOfPfn(pfnB));
        assertEquals(1, pool.liveTables());
        assertEquals(1, frames.inUse());
        assertThrows(IllegalStateException.class, () -> pool.free(b));

        int c = pool.alloc(2, 0x200, 0);
        assertEquals(b, c, "freed id reused");
        assertEquals(2, pool.level(c));
        assertEquals(0x200, pool.gfn(c));
        assertEquals(SHADOW_NONPRESENT_VALUE, pool.get(TablePool.sptep(c, 3)), "reused table is refilled");
        assertEquals(c, pool.idOfPfn(pool.pfnOf(c)));
        assertEquals(a, pool.idOfPfn(pool.pfnOf(a)));
        assertEquals(0, pool.ptep(c));
    }

    @Test
    void duplicateFrameIsRejected() {
        TablePool pool = new TablePool(new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                return 42;
            }

            @Override
            public void freeFrame(long pfn) {
            }
        });
        pool.alloc(1, 0, 0);
        assertThrows(IllegalStateException.class, () -> pool.alloc(1, 0, 0));
    }

    @Test
    void growsPastManyChunksWithoutLosingEntries() {
        ScatteredFrames frames = new ScatteredFrames();
        TablePool pool = new TablePool(frames);
        int n = TablePool.TABLES_PER_CHUNK * 9 + 5;
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = pool.alloc(1 + i % 4, i * 512L, 0);
            pool.set(TablePool.sptep(ids[i], 0), i);
            pool.set(TablePool.sptep(ids[i], 511), ~i);
        }
        assertTrue(pool.chunkCount() >= 10, "chunks: " + pool.chunkCount());
        assertEquals(n, pool.liveTables());
        assertEquals(n * 4096L, pool.bytes());
        for (int i = 0; i < n; i++) {
            int id = ids[i];
            assertEquals(i, pool.get(TablePool.sptep(id, 0)));
            assertEquals(~i, pool.get(TablePool.sptep(id, 511)));
            assertEquals(SHADOW_NONPRESENT_VALUE, pool.get(TablePool.sptep(id, 1)));
            assertEquals(1 + i % 4, pool.level(id));
            assertEquals(i * 512L, pool.gfn(id));
            assertEquals(id, pool.idOfPfn(pool.pfnOf(id)));
        }
        for (int i = 0; i < n; i++) {
            pool.free(ids[i]);
        }
        assertEquals(0, pool.liveTables());
        assertEquals(0, frames.inUse());
        Set<Integer> again = new HashSet<>();
        for (int i = 0; i < n; i++) {
            again.add(pool.alloc(1, 0, 0));
        }
        Set<Integer> before = new HashSet<>();
        for (int id : ids) {
            before.add(id);
        }
        assertEquals(before, again, "all ids come back from the free list");
    }

    @Test
    void headerWords() {
        TablePool pool = new TablePool(TableFrames.sequential(0));
        int root = pool.alloc(5, 0, TablePool.ROLE_ROOT | TablePool.ROLE_MIRROR | TablePool.ROLE_AS_ID_MASK);
        int child = pool.alloc(4, 0, TablePool.ROLE_MIRROR);
        assertEquals(1, pool.asId(root));
        assertEquals(0, pool.asId(child));
        pool.setPtep(child, TablePool.sptep(root, 8));
        assertEquals(TablePool.sptep(root, 8), pool.ptep(child));
        pool.setExternal(child, 0xdead_beefL);
        assertEquals(0xdead_beefL, pool.external(child));
        assertFalse(pool.nxHugePageDisallowed(child));
        pool.setNxHugePageDisallowed(child, true);
        assertTrue(pool.nxHugePageDisallowed(child));
        assertTrue(pool.isLive(child), "flag update keeps the live bit");
        pool.setNxHugePageDisallowed(child, false);
        assertFalse(pool.nxHugePageDisallowed(child));
        assertTrue(pool.isLive(child));

        assertFalse(pool.isInvalid(root));
        pool.setRoleBits(root, TablePool.ROLE_INVALID);
        assertTrue(pool.isInvalid(root));
        assertTrue(pool.isMirror(root));
        pool.clearRoleBits(root, TablePool.ROLE_INVALID);
        assertFalse(pool.isInvalid(root));
        assertTrue(pool.isRoot(root));
    }

    @Test
    void rootRefcount() {
        TablePool pool = new TablePool(TableFrames.sequential(0));
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        assertEquals(0, pool.rootCount(root));
        assertFalse(pool.tryGetRoot(root), "no reference from zero");
        pool.setRootCount(root, 1);
        assertTrue(pool.tryGetRoot(root));
        assertEquals(2, pool.rootCount(root));
        assertEquals(1, pool.putRoot(root));
        assertEquals(0, pool.putRoot(root));
        assertFalse(pool.tryGetRoot(root));
        assertThrows(IllegalStateException.class, () -> pool.putRoot(root));
    }

    @Test
    void concurrentAllocFreeAndCas() throws Exception {
        ScatteredFrames frames = new ScatteredFrames();
        TablePool pool = new TablePool(frames);
        int shared = pool.alloc(1, 0, 0);
        long counter = TablePool.sptep(shared, 0);
        pool.set(counter, 0);
        int threads = 4;
        int rounds = 3000;
        CyclicBarrier go = new CyclicBarrier(threads);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int me = t;
            Thread th = new Thread(() -> {
                try {
                    go.await();
                    int[] mine = new int[8];
                    for (int r = 0; r < rounds; r++) {
                        int slot = r & 7;
                        if (mine[slot] != 0) {
                            int id = mine[slot];
                            long tag = ((long) me << 32) | slot;
                            if (pool.get(TablePool.sptep(id, 5)) != tag) {
                                throw new AssertionError("table " + id + " was touched by another thread");
                            }
                            pool.free(id);
                        }
                        int id = pool.alloc(1 + (r & 3), r, 0);
                        mine[slot] = id;
                        if (pool.idOfPfn(pool.pfnOf(id)) != id) {
                            throw new AssertionError("pfn map lost table " + id);
                        }
                        if (!pool.cas(TablePool.sptep(id, 5), SHADOW_NONPRESENT_VALUE, ((long) me << 32) | slot)) {
                            throw new AssertionError("fresh table " + id + " not empty");
                        }
                        long old;
                        do {
                            old = pool.get(counter);
                        } while (!pool.cas(counter, old, old + 1));
                        pool.xchg(TablePool.sptep(shared, 1 + me), r);
                    }
                    for (int id : mine) {
                        if (id != 0) {
                            pool.free(id);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            ts.add(th);
            th.start();
        }
        for (Thread th : ts) {
            th.join();
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertEquals((long) threads * rounds, pool.get(counter));
        for (int t = 0; t < threads; t++) {
            assertEquals(rounds - 1, pool.get(TablePool.sptep(shared, 1 + t)));
        }
        assertEquals(1, pool.liveTables());
        assertEquals(1, frames.inUse());
    }

    @Test
    void readersSeeTablesWhileOthersGrowThePool() throws Exception {
        TablePool pool = new TablePool(TableFrames.sequential(0x5000_0000L));
        int fixed = 200;
        int[] ids = new int[fixed];
        for (int i = 0; i < fixed; i++) {
            ids[i] = pool.alloc(1, i, 0);
            pool.set(TablePool.sptep(ids[i], i % 512), i);
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread grower = new Thread(() -> {
            try {
                for (int i = 0; i < 20_000; i++) {
                    pool.alloc(1, i, 0);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        });
        Thread reader = new Thread(() -> {
            try {
                while (grower.isAlive()) {
                    for (int i = 0; i < fixed; i++) {
                        int id = pool.idOfPfn(pool.pfnOf(ids[i]));
                        if (id != ids[i] || pool.get(TablePool.sptep(id, i % 512)) != i) {
                            throw new AssertionError("lost table " + ids[i]);
                        }
                    }
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        });
        grower.start();
        reader.start();
        grower.join();
        reader.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertEquals(fixed + 20_000, pool.liveTables());
    }
}
