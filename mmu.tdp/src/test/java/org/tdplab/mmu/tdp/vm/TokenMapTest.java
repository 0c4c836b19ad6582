package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

class TokenMapTest {
    @Test
    void behavesLikeAMapUnderRandomPutsRemovesAndRangeClears() {
        TokenMap map = new TokenMap();
        Map<Long, Long> reference = new HashMap<>();
        Random rnd = new Random(42);
        // keys across two regions (2^27 GFNs each) and a high GPA, values default or not
        long[] bases = { 0, (1L << 27) - 2500, 1L << 40 };
        for (int i = 0; i < 200_000; i++) {
            long key = bases[rnd.nextInt(bases.length)] + rnd.nextInt(5000);
            long value = switch (rnd.nextInt(4)) {
            case 0 -> 0;
            case 1 -> TokenMap.defaultToken(key);
            default -> rnd.nextLong() | 1;
            };
            map.put(key, value);
            if (value == 0)
                reference.remove(key);
            else
                reference.put(key, value);
            if (i % 10_000 == 0) {
                long lo = bases[rnd.nextInt(bases.length)] + rnd.nextInt(5000), hi = lo + rnd.nextInt(1500);
                map.clear(lo, hi);
                reference.keySet().removeIf(k -> k >= lo && k < hi);
            }
        }
        for (long base : bases)
            for (long k = base; k < base + 5000; k++)
                assertEquals(reference.getOrDefault(k, 0L), map.get(k), "key " + k);
        TreeMap<Long, Long> visited = new TreeMap<>();
        map.forEach(0, Long.MAX_VALUE >>> 12, visited::put);
        assertEquals(new TreeMap<>(reference), visited);
    }

    @Test
    void defaultTokensNeedNoValueArray() {
        TokenMap map = new TokenMap();
        for (long g = 0; g < 4096; g++)
            map.put(g, TokenMap.defaultToken(g));
        for (long g = 0; g < 4096; g++)
            assertEquals(g << 12, map.get(g));
        map.put(7, 0x1234);
        assertEquals(0x1234, map.get(7));
        map.put(7, TokenMap.defaultToken(7));
        assertEquals(7L << 12, map.get(7), "the default again, after another value");
        map.clear(0, 512);
        assertEquals(0, map.get(7));
        assertEquals(512L << 12, map.get(512));
    }

    /** A clear across absent regions, absent middle tables and whole leaves forgets exactly its range. */
    @Test
    void aClearSkipsWhatWasNeverWrittenAndKeepsItsEdges() {
        TokenMap map = new TokenMap();
        long mid = 1L << 18, region = 1L << 27;
        long[] keys = { 5, 511, 512, 1023, 1024, mid + 3, 3 * mid + 511, region + 7, 5 * region + 1 };
        for (long k : keys)
            map.put(k, k * 2 + 1);
        map.clear(6, 5 * region + 1); // from inside the first leaf to just before the last key
        TreeMap<Long, Long> left = new TreeMap<>();
        map.forEach(0, 6 * region, left::put);
        assertEquals(new TreeMap<>(Map.of(5L, 11L, 5 * region + 1, (5 * region + 1) * 2 + 1)), left);
        map.put(600, 9);
        map.clear(512, 1024); // one whole leaf
        assertEquals(0, map.get(600));
        assertEquals(11, map.get(5));
        TreeMap<Long, Long> few = new TreeMap<>();
        map.forEach(6, 5 * region + 1, few::put);
        assertEquals(new TreeMap<>(), few, "forEach stops before its end");
    }

    /**
     * The write sequence a reader checks: a read taken while no write of the leaf was in flight, and before which
     * none began, is judged; one that a write overlapped, begun before it or during it, is not.
     */
    @Test
    void aReadIsJudgedUnlessAWriteOfItsLeafOverlappedIt() {
        TokenMap map = new TokenMap();
        assertEquals(0, TokenMap.writesIfQuiet(map.leafOf(7)), "no leaf yet: no write");
        assertFalse(map.writeRaced(7, 0));

        long before = TokenMap.writesIfQuiet(map.leafOf(7));
        TokenMap.Leaf leaf = map.beginWrite(7); // a write begins after the read's start: its leaf is new
        assertTrue(map.writeRaced(7, before), "a write began during the read");
        assertEquals(-1, TokenMap.writesIfQuiet(map.leafOf(300)), "the write is in flight for the whole leaf");
        TokenMap.put(leaf, 7, 0x77);
        TokenMap.endWrite(leaf);

        long quiet = TokenMap.writesIfQuiet(map.leafOf(300));
        assertEquals(1, quiet);
        assertFalse(map.writeRaced(300, quiet), "nothing happened since");
        assertFalse(map.writeRaced(7, quiet));
        TokenMap.endWrite(map.beginWrite(600)); // another leaf
        assertFalse(map.writeRaced(7, quiet), "a write of another leaf does not count");
        TokenMap.endWrite(map.beginWrite(8));
        assertTrue(map.writeRaced(7, quiet), "a write of the same leaf, begun and ended during the read");
        assertEquals(0x77, map.get(7));
    }
    /**
     * A guest write owns its leaf from before its frame to after its token: another write of the leaf (or a token
     * stored from outside the guest) waits for it, so two writes of one page leave the frame and the token of the same
     * one. Before, the leaf only counted writes, and two writers of a page could leave one's frame and the other's
     * token.
     */
    @Test
    void aWriteOwnsItsLeafUntilItsTokenIsStored() {
        TokenMap map = new TokenMap();
        TokenMap.Leaf leaf = map.beginWrite(7);
        java.util.concurrent.atomic.AtomicBoolean stored = new java.util.concurrent.atomic.AtomicBoolean();
        Thread other = new Thread(() -> {
            TokenMap.Leaf mine = map.beginWrite(8);
            TokenMap.put(mine, 8, 0x88);
            TokenMap.endWrite(mine);
            stored.set(true);
        });
        other.start();
        org.tdplab.mmu.tdp.sync.Waits.awaitParkedOn(other, leaf);
        assertFalse(stored.get(), "the other write waits for the leaf");
        TokenMap.put(leaf, 7, 0x77);
        TokenMap.endWrite(leaf);
        org.tdplab.mmu.tdp.sync.Waits.join(other);
        assertTrue(stored.get());
        assertEquals(0x77, map.get(7));
        assertEquals(0x88, map.get(8));
        assertEquals(2, TokenMap.writesIfQuiet(map.leafOf(7)), "both writes counted, none in flight");
    }

    /** A guest write that failed between its frame and its token lets the leaf go, and its reads are never judged. */
    @Test
    void aFailedWriteLeavesItsLeafUnjudgedAndFree() {
        TokenMap map = new TokenMap();
        TokenMap.abortWrite(map.beginWrite(7));
        assertEquals(-1, TokenMap.writesIfQuiet(map.leafOf(7)), "the frame may hold either token");
        assertTrue(map.writeRaced(7, TokenMap.writesIfQuiet(map.leafOf(7))));
        TokenMap.Leaf again = map.beginWrite(9); // the leaf is free: this does not wait
        TokenMap.put(again, 9, 0x99);
        TokenMap.endWrite(again);
        map.put(10, 0x1010);
        assertEquals(-1, TokenMap.writesIfQuiet(map.leafOf(9)), "still unjudged after later writes");
        assertEquals(0x99, map.get(9));
        assertEquals(0x1010, map.get(10));
    }
}
