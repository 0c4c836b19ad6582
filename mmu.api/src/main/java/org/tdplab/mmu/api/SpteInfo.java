package org.tdplab.mmu.api;

/**
 * One SPTE as a walk found it.
 *
 * @param root the root it was found under
 * @param gfn the GFN the walk asked for (natural, without direct bits)
 * @param level the level of the entry (1 = 4K leaf)
 * @param spte its raw 64-bit value
 * @param present MMU-present
 * @param leaf a leaf at its level
 * @param writable the W bit
 * @param pfn the PFN it maps (leaves) or the child table's PFN
 */
public record SpteInfo(RootKind root, long gfn, int level, long spte, boolean present, boolean leaf,
        boolean writable, long pfn) {
}
