package org.tdplab.mmu.tdp.pt;

/**
 * Where page-table pages get their host frame numbers. Non-leaf SPTEs hold the child table's PFN, so every
 * table needs one; the pool asks for it when a table is allocated and gives it back when the table is freed.
 */
public interface TableFrames {
    /** A host PFN for table {@code tableId}, unique among live tables. */
    long allocFrame(int tableId);

    void freeFrame(long pfn);

    /** Frames {@code basePfn + tableId}: deterministic, and unique because live table ids are. */
    static TableFrames sequential(long basePfn) {
        return new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                return basePfn + tableId;
            }

            @Override
            public void freeFrame(long pfn) {
            }
        };
    }
}
