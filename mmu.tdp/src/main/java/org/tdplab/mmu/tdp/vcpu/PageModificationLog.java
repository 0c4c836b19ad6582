package org.tdplab.mmu.tdp.vcpu;

import java.util.function.LongConsumer;

/**
 * A vCPU's page-modification log: the GFNs whose dirty bit the CPU set in a leaf while the VM logs dirty pages by
 * D bits, until KVM reads them into the memslots' bitmaps at the vCPU's next exit (the vendor's flush of its log
 * buffer, which every exit runs). Those bitmaps are filled from these logs alone, so a page whose leaf a zap removes
 * before {@code KVM_GET_DIRTY_LOG} is still reported. Written by its own vCPU only.
 */
public final class PageModificationLog {
    /** The CPU's buffer: a 4K page of GPAs. An access logs one or two at most before its exit flushes them. */
    public static final int ENTRIES = 512;
    private final long[] gfns = new long[ENTRIES];
    private int count;

    void log(long gfn) {
        if (count == ENTRIES)
            throw new IllegalStateException("page-modification log full: it is flushed at every exit");
        gfns[count++] = gfn;
    }

    public boolean isEmpty() {
        return count == 0;
    }

    /** The exit's flush: each logged GFN to {@code markDirty}, oldest first; the log is empty after. */
    public void flush(LongConsumer markDirty) {
        for (int i = 0; i < count; i++)
            markDirty.accept(gfns[i]);
        count = 0;
    }
}
