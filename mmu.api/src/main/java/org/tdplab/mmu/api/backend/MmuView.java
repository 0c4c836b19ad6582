package org.tdplab.mmu.api.backend;

import org.osgi.annotation.versioning.ProviderType;
import org.tdplab.mmu.api.RootKind;

/** A read-only view of one VM's MMU state, for backends' invariant checks. */
@ProviderType
public interface MmuView {
    /** Visits every present leaf of the valid roots of that kind, decoded. */
    void forEachLeaf(RootKind root, LeafVisitor visitor);

    /** Visits every present non-leaf entry of the valid roots of that kind, decoded. */
    void forEachTable(RootKind root, LeafVisitor visitor);

    /**
     * {@link #forEachLeaf(RootKind, LeafVisitor)} with each leaf's fields as arguments: no object per leaf, for a
     * check that walks millions of them. The default decodes each leaf first, as the other form does.
     *
     * @since 4.10.0
     */
    default void forEachLeaf(RootKind root, FieldVisitor visitor) {
        forEachLeaf(root, (gfn, level, e) -> visitor.visit(gfn, level, e.pfn(), e.readable(), e.writable(),
                e.executable()));
    }

    /**
     * {@link #forEachTable(RootKind, LeafVisitor)} with each entry's fields as arguments (a table entry allows
     * everything, as {@link SpteChange.Entry#table} reads). The default decodes each entry first.
     *
     * @since 4.10.0
     */
    default void forEachTable(RootKind root, FieldVisitor visitor) {
        forEachTable(root, (gfn, level, e) -> visitor.visit(gfn, level, e.pfn(), e.readable(), e.writable(),
                e.executable()));
    }

    /** The current memory attribute of a GFN. */
    boolean isPrivate(long gfn);

    /** The guest_memfd pfn backing a private GFN, or -1 when none is allocated. */
    long gmemPfnIfPresent(long gfn);

    /**
     * Whether guest_memfd's page at a private GFN is locked, as the kernel's folio lock holds it: a new folio is in
     * the file but not yet prepared and published ({@code kvm_gmem_get_pfn} adds it locked and prepares it under that
     * lock), or a folio there is being removed (a truncation unmaps it from the file, then hands its frames back to
     * the backend, {@code free_folio}, before it lets the lock go). {@link #gmemPfnIfPresent} reads such a page as
     * absent while the backend may already, or still, hold its frames for the GFN. Neither holder needs the MMU lock, so
     * a check that holds it may wait for the page to be let go and then read it again, as a look-up of the page waits
     * for the folio's lock. Lock-free; false outside a guest_memfd memslot.
     *
     * @since 4.8.0
     */
    boolean gmemLocked(long gfn);

    /** One present entry, decoded as {@link SpteChange.Entry}: the core's SPTE layout never reaches a backend. */
    @FunctionalInterface
    interface LeafVisitor {
        /**
         * @param gfn the first GFN the entry covers (natural, without direct bits)
         * @param level the entry's level (1 = 4K)
         * @param entry the entry: a leaf's frame and permissions, or the frame of the table it points to
         */
        void visit(long gfn, int level, SpteChange.Entry entry);
    }

    /**
     * One present entry as its fields, the ones {@link SpteChange.Entry} holds (a visited entry is present, and a
     * leaf or a table by the method that visits it).
     *
     * @since 4.10.0
     */
    @FunctionalInterface
    interface FieldVisitor {
        /**
         * @param gfn the first GFN the entry covers (natural, without direct bits)
         * @param level the entry's level (1 = 4K)
         * @param pfn the frame a leaf maps (the first of a huge leaf), or the frame of the table an entry points to
         * @param readable the entry allows reads
         * @param writable the entry allows writes
         * @param executable the entry allows instruction fetches
         */
        void visit(long gfn, int level, long pfn, boolean readable, boolean writable, boolean executable);
    }
}
