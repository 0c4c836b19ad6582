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
