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
}
