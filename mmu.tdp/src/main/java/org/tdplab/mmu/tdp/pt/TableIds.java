package org.tdplab.mmu.tdp.pt;

import java.util.Arrays;

/**
 * The ids a {@link TablePool} hands its tables: a freed id is reused most-recent first (its chunk's slots are warm
 * in the cache), else the next never-used one. Not thread-safe: the pool calls it under its alloc lock.
 */
final class TableIds {
    private int next = 1;
    private int[] freed = new int[64];
    private int top;

    /** An id for a new table: the last one freed, or the next never used. */
    int take() {
        return top > 0 ? freed[--top] : next++;
    }

    /** {@code id} is free again. */
    void put(int id) {
        if (top == freed.length)
            freed = Arrays.copyOf(freed, top * 2);
        freed[top++] = id;
    }
}
