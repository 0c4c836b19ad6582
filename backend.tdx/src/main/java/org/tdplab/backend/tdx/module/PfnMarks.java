package org.tdplab.backend.tdx.module;

import java.util.HashMap;
import java.util.Map;

/**
 * A set of host frames for one pass of a check: one bit per frame in 4 KiB chunks of 32,768 frames, so marking every
 * page of a 1 TiB TD costs 32 MiB instead of a boxed entry per page.
 */
final class PfnMarks {
    private static final int CHUNK_SHIFT = 15;
    private static final int CHUNK_MASK = (1 << CHUNK_SHIFT) - 1;
    private final Map<Long, long[]> chunks = new HashMap<>();
    private long lastKey = -1;
    private long[] last;

    /** Marks {@code pfn}; false when it was marked already. */
    boolean mark(long pfn) {
        long key = pfn >>> CHUNK_SHIFT;
        if (key != lastKey) {
            last = chunks.computeIfAbsent(key, k -> new long[1 << (CHUNK_SHIFT - 6)]);
            lastKey = key;
        }
        int bit = (int) (pfn & CHUNK_MASK);
        long mask = 1L << bit;
        long word = last[bit >>> 6];
        if ((word & mask) != 0)
            return false;
        last[bit >>> 6] = word | mask;
        return true;
    }
}
