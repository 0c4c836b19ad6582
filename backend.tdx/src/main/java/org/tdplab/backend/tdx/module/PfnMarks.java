package org.tdplab.backend.tdx.module;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A set of host frames for one pass of a check: one bit per frame in 4 KiB chunks of 32,768 frames, so marking every
 * page of a 1 TiB TD costs 32 MiB instead of a boxed entry per page. The chunks of the first 2^35 frames (a host's
 * frames are numbered from 0 up) are indexed by their number in an array grown as needed, so a mark that lands in
 * another chunk than the one before allocates nothing; any beyond are kept by a map.
 */
final class PfnMarks {
    private static final int CHUNK_SHIFT = 15;
    private static final int CHUNK_MASK = (1 << CHUNK_SHIFT) - 1;
    private static final long ARRAY_KEYS = 1L << 20;
    private long[][] chunks = new long[64][];
    private final Map<Long, long[]> far = new HashMap<>();

    /** Marks {@code pfn}; false when it was marked already. */
    boolean mark(long pfn) {
        long[] chunk = chunk(pfn >>> CHUNK_SHIFT);
        int bit = (int) (pfn & CHUNK_MASK);
        long mask = 1L << bit;
        long word = chunk[bit >>> 6];
        if ((word & mask) != 0)
            return false;
        chunk[bit >>> 6] = word | mask;
        return true;
    }

    private long[] chunk(long key) {
        if (key >= ARRAY_KEYS)
            return far.computeIfAbsent(key, k -> new long[1 << (CHUNK_SHIFT - 6)]);
        if (key >= chunks.length)
            chunks = Arrays.copyOf(chunks, (int) Math.min(ARRAY_KEYS, Math.max(key + 1, 2L * chunks.length)));
        long[] chunk = chunks[(int) key];
        if (chunk == null)
            chunks[(int) key] = chunk = new long[1 << (CHUNK_SHIFT - 6)];
        return chunk;
    }
}
