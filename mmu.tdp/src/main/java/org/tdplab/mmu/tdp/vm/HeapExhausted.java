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

    static MmuException enomem(OutOfMemoryError e) {
        long max = Runtime.getRuntime().maxMemory() >> 20;
        return new MmuException(Errno.ENOMEM, "the Java heap (%d MiB) is exhausted: raise it with -Xmx, e.g. "
                + "TDPLAB_JAVA_OPTS=-Xmx20g ./tdplab run …", max);
    }
}
