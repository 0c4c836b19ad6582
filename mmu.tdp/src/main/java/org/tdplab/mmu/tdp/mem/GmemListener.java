package org.tdplab.mmu.tdp.mem;

/**
 * What a guest_memfd tells the rest of the model. Indexes are 4K page indexes in the file; {@link
 * GuestMemfd#gfnOf(long)} maps them to GFNs through the memslot binding, and gives -1 once the slot is gone (then
 * nothing maps the file and there is nothing to zap). {@link #prepare} is called holding the folio's range lock only
 * (faults elsewhere in the file go on, and so does a punch of other ranges); the others holding the file's writers'
 * lock ({@code filemap_invalidate_lock}). So a listener must not call back into the same file: an allocation there
 * may wait for the writer, a punch, close or bind for the range the prepare holds.
 */
public interface GmemListener {
    /** No-op listener. */
    GmemListener NONE = new GmemListener() {
    };

    /**
     * A folio was allocated and is about to be handed out for the first time ({@code kvm_arch_gmem_prepare}).
     * Called before any caller can see its PFN. Throwing fails the {@link GuestMemfd#getPfn} that allocated it.
     *
     * @param pfn the folio's first PFN
     * @param index the folio's first index (aligned to the order)
     */
    default void prepare(GuestMemfd file, long pfn, long index, int order) {
    }

    /** A folio is being freed ({@code free_folio} → {@code kvm_arch_gmem_invalidate}); its frames are still owned. */
    default void free(GuestMemfd file, long pfn, int order) {
    }

    /**
     * A partial hole punch keeps the huge folio around page {@code pfn} (file index {@code index}) and is about to
     * zero that punched page on the host's account: the page leaves the guest first. Throwing fails the punch (the
     * invalidation still ends).
     */
    default void clearing(GuestMemfd file, long pfn, long index) {
    }

    /**
     * The punched page {@link #clearing} announced is zero now and stays in the file, visible: it is prepared
     * again for the guest, as a fresh page would have been.
     */
    default void cleared(GuestMemfd file, long pfn, long index) {
    }

    /** Pages {@code [start, end)} are about to be removed: unmap them from the guest (kvm_gmem_invalidate_begin). */
    default void invalidateBegin(GuestMemfd file, long start, long end) {
    }

    /** The removal of {@code [start, end)} is complete (kvm_gmem_invalidate_end). */
    default void invalidateEnd(GuestMemfd file, long start, long end) {
    }
}
