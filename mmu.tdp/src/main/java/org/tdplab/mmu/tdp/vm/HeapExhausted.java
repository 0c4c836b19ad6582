package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The Java heap ran out inside an operation: the caller gets {@code ENOMEM} naming the heap's size and how to raise
 * it, never a bare {@link OutOfMemoryError}. The model's structures allocate before they publish (a table before it
 * is linked, a leaf before it is written), so the operation that ran out left nothing half-made.
 */
final class HeapExhausted {
    private HeapExhausted() {
    }

    /**
     * Refuses, before anything changes, an operation that needs {@code bytes} more of the heap than it has free (after
     * a collection, which only a refusal pays for): a structure that grows with the range, not with what is mapped.
     */
    static void require(long bytes, String what) {
        Runtime rt = Runtime.getRuntime();
        if (bytes <= rt.maxMemory() - (rt.totalMemory() - rt.freeMemory()))
            return;
        System.gc(); // garbage counts as used above; only what stays live should refuse the operation
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (bytes > free)
            throw new MmuException(Errno.ENOMEM, "%s needs about %d MiB of the Java heap and %d MiB of its %d MiB are "
                    + "free: raise it with -Xmx, e.g. TDPLAB_JAVA_OPTS=-Xmx20g ./tdplab run …", what, bytes >> 20,
                    free >> 20, rt.maxMemory() >> 20);
    }

    static MmuException enomem(OutOfMemoryError e) {
        long max = Runtime.getRuntime().maxMemory() >> 20;
        return new MmuException(Errno.ENOMEM, "the Java heap (%d MiB) is exhausted: raise it with -Xmx, e.g. "
                + "TDPLAB_JAVA_OPTS=-Xmx20g ./tdplab run …", max);
    }
}
