package org.tdplab.mmu.api.backend;

import org.osgi.annotation.versioning.ProviderType;
import org.tdplab.mmu.api.RootKind;

/** A read-only view of one VM's MMU state, for backends' invariant checks. */
@ProviderType
public interface MmuView {
    /** Visits every present leaf of the valid roots of that kind. */
    void forEachLeaf(RootKind root, LeafVisitor visitor);

    /** Visits every present non-leaf entry of the valid roots of that kind. */
    void forEachTable(RootKind root, LeafVisitor visitor);

    /** The current memory attribute of a GFN. */
    boolean isPrivate(long gfn);

    /** The guest_memfd pfn backing a private GFN, or -1 when none is allocated. */
    long gmemPfnIfPresent(long gfn);

    @FunctionalInterface
    interface LeafVisitor {
        void visit(long gfn, int level, long spte, long pfn);
    }
}
