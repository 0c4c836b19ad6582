package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The pool's pfn → table id map and its free generation against a walker's remembered look-up
 * ({@link TdpIter#childTable}): a walker steps through a non-leaf SPTE to the table in frame {@code P} while another
 * thread frees that table and allocates two more, the second in the same frame {@code P} (the first takes the freed id
 * in another frame, so a stale answer names a live table). Once both are done, the walker's step through {@code P}
 * must reach the new table, whatever it remembered. No RCU grace period here: the protocol alone must hold, so the
 * entry is cleared before the generation moves, and the generation moves before the frame is given back. Fails with
 * the entry cleared after the bump (the walker reads the new generation, then the old id: the old order, safe only
 * behind RCU), and with the bump after the frame is given back. The map's entries are VarHandle accesses (acquire /
 * release), which Fray schedules around; plain array loads would not be scheduling points.
 */
@ExtendWith(FrayTestExtension.class)
class TableIdRaceTest {
    private static final long P = 0x1234, OTHER = 0x4321;

    @ConcurrencyTest(iterations = 300)
    void aWalkerReachesTheTableNowInTheFrame() throws Exception {
        int[] allocs = new int[1];
        TablePool pool = new TablePool(new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                return allocs[0]++ == 1 ? OTHER : P; // first table in P, then OTHER, then P again
            }

            @Override
            public void freeFrame(long pfn) {
            }
        });
        int old = pool.alloc(Spte.PG_LEVEL_4K, 0, 0);
        long spte = Spte.makeNonLeaf(P, false);
        TdpIter walker = new TdpIter(pool);
        int[] fresh = new int[2];
        int[] seen = new int[1];
        Lab.parallel(() -> seen[0] = walker.childTable(spte, Spte.PG_LEVEL_2M), () -> {
            pool.free(old);
            fresh[0] = pool.alloc(Spte.PG_LEVEL_4K, 0, 0); // the freed id, in OTHER
            fresh[1] = pool.alloc(Spte.PG_LEVEL_4K, 512, 0); // a new id, in P
        });
        expect(seen[0] == old || seen[0] == 0 || seen[0] == fresh[1], "walker saw " + seen[0]);
        int now = walker.childTable(spte, Spte.PG_LEVEL_2M);
        expect(now == fresh[1] && pool.pfnOf(now) == P,
                "the step through frame P reached table " + now + " (in 0x" + Long.toHexString(pool.pfnOf(now))
                        + "), not " + fresh[1] + "; the walker first saw " + seen[0]);
    }
}
