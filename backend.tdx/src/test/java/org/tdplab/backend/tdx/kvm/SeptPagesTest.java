package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

class SeptPagesTest {
    /** The key of the page table (level 1) covering {@code gfn}, as the hooks make it. */
    private static long ptKey(long gfn) {
        return (gfn & -512L) | 1L << 58;
    }

    /** The bucket of a 1024-bucket hash table (ConcurrentHashMap's spread of {@code Long.hashCode}). */
    private static int bucket(long key) {
        int h = Long.hashCode(key);
        return (h ^ (h >>> 16)) & 1023;
    }

    @Test
    void theInverseUndoesTheMix() {
        assertEquals(1L, 0x9E37_79B9_7F4A_7C15L * SeptPages.inverse(0x9E37_79B9_7F4A_7C15L));
        assertEquals(1L, 3L * SeptPages.inverse(3L));
    }

    @Test
    void theKeysOfAGibibytesPageTablesSpreadOverTheBuckets() {
        Set<Integer> raw = new HashSet<>(), stored = new HashSet<>();
        for (long gfn = 0; gfn < 1L << 18; gfn += 512) {
            raw.add(bucket(ptKey(gfn)));
            stored.add(bucket(SeptPages.stored(ptKey(gfn))));
        }
        assertTrue(raw.size() <= 16, "raw keys in " + raw.size() + " buckets");
        assertTrue(stored.size() >= 300, "stored keys in " + stored.size() + " buckets");
    }

    @Test
    void entriesGiveBackTheKeysAsPut() {
        SeptPages pages = new SeptPages();
        pages.put(ptKey(0), 100);
        pages.put(ptKey(512 * 7), 107);
        pages.put(0x3L << 58, 300);
        assertTrue(pages.contains(ptKey(512 * 7)));
        assertFalse(pages.contains(ptKey(512 * 8)));
        assertEquals(107, pages.remove(ptKey(512 * 7)));
        assertEquals(-1, pages.remove(ptKey(512 * 7)));
        List<long[]> left = pages.entries();
        Set<String> pairs = new HashSet<>();
        for (long[] e : left)
            pairs.add(Long.toHexString(e[0]) + "=" + e[1]);
        assertEquals(Set.of(Long.toHexString(ptKey(0)) + "=100", Long.toHexString(0x3L << 58) + "=300"), pairs);
    }

    @Test
    void manyPutsAndRemovesAgreeWithAMap() {
        SeptPages pages = new SeptPages();
        java.util.Map<Long, Long> ref = new java.util.HashMap<>();
        java.util.Random rnd = new java.util.Random(14);
        for (int step = 0; step < 20_000; step++) {
            long key = ptKey(512L * rnd.nextInt(3000)) | (rnd.nextInt(3) == 0 ? 2L << 58 : 0);
            switch (rnd.nextInt(3)) {
            case 0 -> {
                pages.put(key, step);
                ref.put(key, (long) step);
            }
            case 1 -> assertEquals(ref.containsKey(key) ? (long) ref.remove(key) : -1L, pages.remove(key));
            default -> assertEquals(ref.containsKey(key), pages.contains(key));
            }
        }
        assertEquals(ref.size(), pages.entries().size());
        for (long[] e : pages.entries())
            assertEquals(ref.get(e[0]), e[1]);
    }
}
