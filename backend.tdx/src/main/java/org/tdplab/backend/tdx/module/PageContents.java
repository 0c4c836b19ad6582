package org.tdplab.backend.tdx.module;

/**
 * The contents of physical pages (one data token per 4K frame), as the module reads and writes them: the host's
 * memory, which the module does not own.
 */
public interface PageContents {
    long read(long pfn);

    void write(long pfn, long token);

    /**
     * An ACCEPT zeroed the guest's page at {@code gfn}; called before the page is mapped for the other vCPUs (the data
     * oracle learns it there, or a vCPU could write the page before the oracle heard of the zeroing).
     */
    default void zeroedForGuest(long gfn) {
    }
}
