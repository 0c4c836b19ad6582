package org.tdplab.backend.tdx.module;

import java.util.Arrays;

/**
 * {@link PamtChunks} of {@code int[]}: the {@link Pamt}'s entries, 2M chunks by {@code pfn >> 9}, found by index in
 * directories of 4096 (8 GiB of host memory each): two loads and no probing on the AUG path, where a hash table's
 * probe was a miss of its own in a random-order fault.
 */
final class PamtIntChunks {
    private static final int DIR_BITS = 12, DIR_MASK = (1 << DIR_BITS) - 1;
    private static final java.lang.invoke.VarHandle DIRS = java.lang.invoke.MethodHandles
            .arrayElementVarHandle(int[][][].class);
    private static final java.lang.invoke.VarHandle CHUNK = java.lang.invoke.MethodHandles
            .arrayElementVarHandle(int[][].class);

    /** Replaced by a longer copy when a key lies past its end, so a reader sees one array or the other. */
    private volatile int[][][] dirs = new int[1][][];
    int size;

    /** Without a lock: a directory and a chunk are published with release stores after they are filled. */
    int[] get(long key) {
        int[][][] d = dirs;
        long di = key >>> DIR_BITS;
        if (di >= d.length)
            return null;
        int[][] dir = (int[][]) DIRS.getAcquire(d, (int) di);
        return dir == null ? null : (int[]) CHUNK.getAcquire(dir, (int) (key & DIR_MASK));
    }

    /** Under the PAMT's lock, or the module's exclusive one. */
    int[] put(long key, int[] value) {
        int di = Math.toIntExact(key >>> DIR_BITS);
        int[][][] d = dirs;
        if (di >= d.length)
            dirs = d = Arrays.copyOf(d, Math.max(di + 1, 2 * d.length));
        int[][] dir = d[di];
        if (dir == null)
            DIRS.setRelease(d, di, dir = new int[1 << DIR_BITS][]);
        if (dir[(int) (key & DIR_MASK)] == null)
            size++;
        CHUNK.setRelease(dir, (int) (key & DIR_MASK), value);
        return value;
    }

    /** Only under the module's exclusive lock, when no reader may be looking for the chunk. */
    void remove(long key) {
        int[][][] d = dirs;
        long di = key >>> DIR_BITS;
        int[][] dir = di < d.length ? d[(int) di] : null;
        if (dir == null || dir[(int) (key & DIR_MASK)] == null)
            return;
        CHUNK.setRelease(dir, (int) (key & DIR_MASK), null);
        size--;
    }

    /** A snapshot of the keys, ascending (for scans that may remove). */
    long[] keys() {
        long[] out = new long[size];
        int n = 0;
        int[][][] d = dirs;
        for (int di = 0; di < d.length; di++)
            if (d[di] != null)
                for (int i = 0; i <= DIR_MASK; i++)
                    if (d[di][i] != null)
                        out[n++] = ((long) di << DIR_BITS) | i;
        return out;
    }
}
