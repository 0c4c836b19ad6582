package org.tdplab.backend.tdx.module;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * The {@link Pamt}'s storage: 2M chunks by {@code pfn >> 9}, found by index in directories of 4096 (8 GiB of host
 * memory each): two loads and no probing on the AUG path, where a hash table's probe was a miss of its own in a
 * random-order fault. A chunk is any array ({@code int[]} entries, {@code long[]} bepochs or pairs), so one class
 * serves each; a read costs a cast more.
 *
 * @param <C> the chunk's array type
 */
final class PamtChunks<C> {
    private static final int DIR_BITS = 12, DIR_MASK = (1 << DIR_BITS) - 1;
    private static final VarHandle DIRS = MethodHandles.arrayElementVarHandle(Object[][].class);
    private static final VarHandle CHUNK = MethodHandles.arrayElementVarHandle(Object[].class);

    /** Replaced by a longer copy when a key lies past its end, so a reader sees one array or the other. */
    private volatile Object[][] dirs = new Object[1][];
    int size;

    /** Without a lock: a directory and a chunk are published with release stores after they are filled. */
    @SuppressWarnings("unchecked")
    C get(long key) {
        Object[][] d = dirs;
        long di = key >>> DIR_BITS;
        if (di >= d.length)
            return null;
        Object[] dir = (Object[]) DIRS.getAcquire(d, (int) di);
        return dir == null ? null : (C) CHUNK.getAcquire(dir, (int) (key & DIR_MASK));
    }

    /** Under the PAMT's lock, or the module's exclusive one. */
    C put(long key, C value) {
        int di = Math.toIntExact(key >>> DIR_BITS);
        Object[][] d = dirs;
        if (di >= d.length)
            dirs = d = Arrays.copyOf(d, Math.max(di + 1, 2 * d.length));
        Object[] dir = d[di];
        if (dir == null)
            DIRS.setRelease(d, di, dir = new Object[1 << DIR_BITS]);
        if (dir[(int) (key & DIR_MASK)] == null)
            size++;
        CHUNK.setRelease(dir, (int) (key & DIR_MASK), value);
        return value;
    }

    /** Only under the module's exclusive lock, when no reader may be looking for the chunk. */
    void remove(long key) {
        Object[][] d = dirs;
        long di = key >>> DIR_BITS;
        Object[] dir = di < d.length ? d[(int) di] : null;
        if (dir == null || dir[(int) (key & DIR_MASK)] == null)
            return;
        CHUNK.setRelease(dir, (int) (key & DIR_MASK), null);
        size--;
    }

    /** A snapshot of the keys, ascending (for scans that may remove). */
    long[] keys() {
        long[] out = new long[size];
        int n = 0;
        Object[][] d = dirs;
        for (int di = 0; di < d.length; di++)
            if (d[di] != null)
                for (int i = 0; i <= DIR_MASK; i++)
                    if (d[di][i] != null)
                        out[n++] = ((long) di << DIR_BITS) | i;
        return out;
    }
}
