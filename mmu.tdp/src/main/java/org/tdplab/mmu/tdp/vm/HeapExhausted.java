package org.tdplab.mmu.tdp.vm;

import java.util.Locale;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The Java heap ran out inside an operation: the caller gets {@code ENOMEM} naming the heap's size and how to raise
 * it (the words the scenario runner uses for a heap that runs out outside the model), never a bare
 * {@link OutOfMemoryError}. The model's structures allocate before they publish (a table before it is linked, a leaf
 * before it is written), so the operation that ran out left nothing half-made.
 */
final class HeapExhausted {
    private HeapExhausted() {
    }

    static MmuException enomem(OutOfMemoryError e) {
        long max = Runtime.getRuntime().maxMemory();
        String heap = max == Long.MAX_VALUE ? "" : String.format(Locale.ROOT, " (%.1f GiB)", max / (double) (1L << 30));
        return new MmuException(Errno.ENOMEM, "the Java heap%s is exhausted; give it more with TDPLAB_JAVA_OPTS=-Xmx… "
                + "(e.g. TDPLAB_JAVA_OPTS=-Xmx16g ./tdplab run …) or make the guest smaller", heap);
    }
}
