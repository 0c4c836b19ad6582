package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class LongIntMapTest {

    @Test
    void putGetRemove() {
        LongIntMap m = new LongIntMap(4, -1);
        assertEquals(-1, m.get(7));
        assertEquals(-1, m.put(7, 70));
        assertEquals(70, m.get(7));
        assertEquals(70, m.put(7, 71));
        assertEquals(71, m.get(7));
        assertEquals(1, m.size());
        assertEquals(71, m.remove(7));
        assertEquals(-1, m.get(7));
        assertEquals(-1, m.remove(7));
        assertEquals(0, m.size());
        assertEquals(-1, m.put(0, 5), "0 is an ordinary key");
        assertEquals(5, m.get(0));
        assertThrows(IllegalArgumentException.class, () -> m.put(LongIntMap.EMPTY, 1));
        assertThrows(IllegalArgumentException.class, () -> m.put(LongIntMap.TOMBSTONE, 1));
    }

    @Test
    void matchesHashMapUnderChurn() {
        LongIntMap m = new LongIntMap(16, 0);
        Map<Long, Integer> ref = new HashMap<>();
        Random rnd = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            long key = rnd.nextInt(5000) * 4096L + 0x1000;
            int op = rnd.nextInt(3);
            if (op == 0) {
                int v = rnd.nextInt(1_000_000) + 1;
                Integer old = ref.put(key, v);
                assertEquals(old == null ? 0 : old, m.put(key, v));
            } else if (op == 1) {
                Integer old = ref.remove(key);
                assertEquals(old == null ? 0 : old, m.remove(key));
            } else {
                Integer v = ref.get(key);
                assertEquals(v == null ? 0 : v, m.get(key));
            }
            assertEquals(ref.size(), m.size());
        }
        for (Map.Entry<Long, Integer> e : ref.entrySet()) {
            assertEquals((int) e.getValue(), m.get(e.getKey()));
        }
    }

    /**
     * Lock-free lookups against one writer that keeps inserting and removing (tombstones, tombstone reuse, many
     * rehashes from a tiny start). A key is removed only while no reader has it in hand, like a table freed after a
     * grace period; every lookup of a key the reader saw inserted must return the value of that insertion. Each
     * insertion uses a fresh value, so a value read from a slot that another key took over would show.
     */
    @Test
    void concurrentGetsFindEveryPublishedKey() throws Exception {
        LongIntMap m = new LongIntMap(1, 0);
        int keys = 3_000;
        long[] keyOf = new long[keys];
        for (int i = 0; i < keys; i++) {
            keyOf[i] = 0x10000 + i * 4097L;
        }
        AtomicIntegerArray published = new AtomicIntegerArray(keys);
        int readers = 2;
        AtomicIntegerArray inHand = new AtomicIntegerArray(readers);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<String> failure = new AtomicReference<>();
        Thread[] ts = new Thread[readers];
        for (int r = 0; r < readers; r++) {
            int me = r;
            inHand.set(me, -1);
            ts[r] = new Thread(() -> {
                Random rnd = new Random(me);
                while (!stop.get()) {
                    int k = rnd.nextInt(keys);
                    inHand.set(me, k);
                    int v = published.get(k);
                    if (v != 0) {
                        int got = m.get(keyOf[k]);
                        if (got != v) {
                            failure.compareAndSet(null, "key " + k + ": expected " + v + ", got " + got);
                        }
                    }
                    inHand.set(me, -1);
                }
            });
            ts[r].start();
        }
        Random rnd = new Random(7);
        int next = 0;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
        try {
            for (int op = 0; failure.get() == null && (op < 200_000 || System.nanoTime() - deadline < 0)
                    && op < 5_000_000; op++) {
                int k = rnd.nextInt(keys);
                if (published.get(k) == 0) {
                    int v = ++next;
                    m.put(keyOf[k], v);
                    published.set(k, v);
                } else {
                    published.set(k, 0);
                    for (int r = 0; r < readers; r++) {
                        while (inHand.get(r) == k) {
                            Thread.onSpinWait();
                        }
                    }
                    m.remove(keyOf[k]);
                }
            }
        } finally {
            stop.set(true);
            for (Thread t : ts) {
                t.join();
            }
        }
        assertEquals(null, failure.get());
    }

    /** At most half the slots are used (entries and tombstones): a table sized for n holds n without growing. */
    @Test
    void growsWhenMoreThanHalfTheSlotsWouldBeUsed() {
        assertEquals(16, new LongIntMap(8, -1).capacity());
        assertEquals(32, new LongIntMap(9, -1).capacity());
        LongIntMap m = new LongIntMap(8, -1);
        for (int k = 1; k <= 8; k++)
            m.put(k, k);
        assertEquals(16, m.capacity(), "8 entries in 16 slots");
        m.put(9, 9);
        assertEquals(32, m.capacity(), "the 9th entry doubles the table");
        for (int k = 1; k <= 9; k++)
            assertEquals(k, m.get(k));
    }

    /** Removed keys leave tombstones that count toward growth until a rehash drops them. */
    @Test
    void tombstonesCountTowardGrowth() {
        LongIntMap m = new LongIntMap(8, -1);
        for (int k = 1; k <= 8; k++)
            m.put(k, k);
        for (int k = 1; k <= 4; k++)
            m.remove(k);
        assertEquals(16, m.capacity());
        m.put(100, 1); // 4 live + 4 tombstones + 1 > 8: rehashed, tombstones dropped, same size suffices
        assertEquals(16, m.capacity());
        assertEquals(5, m.size());
        for (int k = 5; k <= 8; k++)
            assertEquals(k, m.get(k));
        assertEquals(-1, m.get(1));
    }
}
