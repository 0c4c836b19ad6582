package org.tdplab.backend.tdx.kvm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@code sp->external_spt} of every mirror table: the S-EPT page the module was given for it, by key (the table's
 * aligned GFN with its level in bits 63:58). Those keys differ only in the GFN bits above the table's span, which
 * {@code Long.hashCode} folds into few buckets (the 512 page tables of a 1 GiB TD fell into 8, searched as trees on
 * every removal); each key is stored multiplied by an odd constant, a bijection that spreads them, and multiplied
 * back by the constant's inverse when read.
 */
final class SeptPages {
    private static final long MIX = 0x9E37_79B9_7F4A_7C15L;
    private static final long UNMIX = inverse(MIX);

    private final Map<Long, Long> pages = new ConcurrentHashMap<>();

    /** The multiplicative inverse of odd {@code a} modulo 2^64 (Newton's iteration doubles the good bits). */
    static long inverse(long a) {
        long x = a; // right in the low 3 bits for odd a
        for (int i = 0; i < 5; i++)
            x *= 2 - a * x;
        return x;
    }

    /** The map's key for {@code key}. */
    static long stored(long key) {
        return key * MIX;
    }

    void put(long key, long page) {
        pages.put(stored(key), page);
    }

    boolean contains(long key) {
        return pages.containsKey(stored(key));
    }

    /** The page of {@code key}, no longer recorded, or -1 if there was none. */
    long remove(long key) {
        Long page = pages.remove(stored(key));
        return page == null ? -1 : page;
    }

    /** A copy of the (key, page) pairs. */
    List<long[]> entries() {
        List<long[]> out = new ArrayList<>(pages.size());
        pages.forEach((k, p) -> out.add(new long[] { k * UNMIX, p }));
        return out;
    }
}
