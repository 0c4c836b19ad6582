package org.tdplab.backend.tdx.kvm;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code sp->external_spt} of every mirror table: the S-EPT page the module was given for it, by key (the table's
 * aligned GFN with its level in bits 63:58). Those keys differ only in the GFN bits above the table's span; each is
 * stored multiplied by an odd constant, a bijection that spreads them, and multiplied back by the constant's inverse
 * when read.
 *
 * <p>An open-addressed table of {@code long}s (linear probing, deletion by backward shift), under this object's
 * monitor: SEPT.ADDs of two vCPUs (the module's lock held shared) record their pages at once, a removal looks its
 * table up. As a {@code ConcurrentHashMap<Long, Long>} every record made three objects and every look-up one, and the
 * record cost a TD's 4K fault that linked a table more than a whole fault.
 */
final class SeptPages {
    private static final long MIX = 0x9E37_79B9_7F4A_7C15L;
    private static final long UNMIX = inverse(MIX);

    /** Stored keys, 0 = empty (no key is 0: its level, bits 63:58, is at least 1), and their pages. */
    private long[] keys = new long[64], pages = new long[64];
    private int size;

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

    private int slot(long stored) {
        return (int) (stored >>> 40) & (keys.length - 1);
    }

    /** Where {@code stored} is, or the empty slot where it would go. */
    private int find(long stored) {
        int mask = keys.length - 1;
        int i = slot(stored);
        while (keys[i] != 0 && keys[i] != stored)
            i = (i + 1) & mask;
        return i;
    }

    synchronized void put(long key, long page) {
        long k = stored(key);
        if (k == 0)
            throw new IllegalArgumentException("S-EPT page key 0");
        int i = find(k);
        if (keys[i] == 0) {
            if ((size + 1) * 2 > keys.length) {
                grow();
                i = find(k);
            }
            keys[i] = k;
            size++;
        }
        pages[i] = page;
    }

    synchronized boolean contains(long key) {
        return keys[find(stored(key))] != 0;
    }

    /** The page of {@code key}, no longer recorded, or -1 if there was none. */
    synchronized long remove(long key) {
        int i = find(stored(key));
        if (keys[i] == 0)
            return -1;
        long page = pages[i];
        int mask = keys.length - 1, gap = i;
        // backward shift: an entry after the gap whose home is not between the gap and it moves into the gap
        for (int j = (i + 1) & mask; keys[j] != 0; j = (j + 1) & mask) {
            if (((j - slot(keys[j])) & mask) >= ((j - gap) & mask)) {
                keys[gap] = keys[j];
                pages[gap] = pages[j];
                gap = j;
            }
        }
        keys[gap] = 0;
        pages[gap] = 0;
        size--;
        return page;
    }

    private void grow() {
        long[] oldKeys = keys, oldPages = pages;
        keys = new long[oldKeys.length * 2];
        pages = new long[oldKeys.length * 2];
        for (int j = 0; j < oldKeys.length; j++)
            if (oldKeys[j] != 0) {
                int i = find(oldKeys[j]);
                keys[i] = oldKeys[j];
                pages[i] = oldPages[j];
            }
    }

    /** A copy of the (key, page) pairs. */
    synchronized List<long[]> entries() {
        List<long[]> out = new ArrayList<>(size);
        for (int j = 0; j < keys.length; j++)
            if (keys[j] != 0)
                out.add(new long[] { keys[j] * UNMIX, pages[j] });
        return out;
    }
}
