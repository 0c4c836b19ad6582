package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * {@code possible_nx_huge_pages}: every table an exec fault split for NX is listed once, oldest first, and leaves
 * the list (and {@code nx_lpage_splits}) when it is unlinked, wherever it stands on the list; recovery takes the
 * oldest first.
 */
class NxListTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M, TABLES = 32;

    private final MmuHarness h = new MmuHarness(VmCapabilities.ordinary("nx", 48).withNxHugePages(true, 1));
    private final TdpMmu mmu = h.mmu;
    private final int root = h.root(false);

    /** An exec fault at the 2M region {@code i}: mapped at 4K under a table marked as a possible NX huge page. */
    private void execFault(int i) {
        PageFault f = h.fault(0x200L * i, L4K, false);
        f.exec = true;
        f.hugePageDisallowed = true;
        f.reqLevel = L2M;
        mmu.lock.readLock();
        try {
            assertEquals(PageFault.RET_PF_FIXED, mmu.map.map(f, root));
        } finally {
            mmu.lock.readUnlock();
        }
    }

    /** Unlinks the table of region {@code i}: huge-page recovery replaces it with a 2M leaf. */
    private void recoverRegion(int i) {
        assertEquals(1, mmu.hugePages.recover(0x200L * i, 0x200L * (i + 1), gfn -> L2M));
    }

    @Test
    void tablesLeaveTheListFromAnywhereAndRecoveryTakesTheOldest() {
        for (int i = 0; i < TABLES; i++)
            execFault(i);
        assertEquals(TABLES, mmu.nx.possible(), "the list grew past its first size");
        assertEquals(TABLES, mmu.stats.get(Stat.NX_LPAGE_SPLITS));

        recoverRegion(0); // the head of a full list
        recoverRegion(5); // one in the middle
        recoverRegion(TABLES - 1); // the tail
        assertEquals(TABLES - 3, mmu.nx.possible());
        assertEquals(TABLES - 3, mmu.stats.get(Stat.NX_LPAGE_SPLITS));

        // ratio 1: ceil(29 / 1) tables; one in a dirty-logged region is only taken off the list
        assertEquals(TABLES - 4, mmu.nx.recover(gfn -> gfn == 0x200L * 7));
        assertEquals(0, mmu.nx.possible());
        assertEquals(0, mmu.stats.get(Stat.NX_LPAGE_SPLITS));
        for (int i = 0; i < TABLES; i++) {
            boolean kept = i == 0 || i == 5 || i == 7 || i == TABLES - 1;
            assertEquals(kept, h.mapped(root, 0x200L * i), "region " + i);
        }
        assertEquals(L2M, h.last(root, 0x200L * 5)[0], "recovered huge");
        assertEquals(L4K, h.last(root, 0x200L * 7)[0], "the dirty-logged region keeps its 4K mapping");
        h.assertQuiescent();
    }

    /**
     * Recovery under the read lock yields to a writer queued behind it between two tables (6.18's
     * {@code cond_resched_rwlock_read} in {@code kvm_recover_nx_huge_pages}), and flushes what it zapped before
     * letting it in: the writer finds the first table's flush done.
     */
    @Test
    void recoveryYieldsToAWaitingWriterAfterFlushing() throws Exception {
        for (int i = 0; i < 4; i++)
            execFault(i);
        AtomicInteger flushesSeenByWriter = new AtomicInteger(-1);
        Thread writer = new Thread(() -> {
            mmu.lock.writeLock();
            flushesSeenByWriter.set(h.flushes.size());
            mmu.lock.writeUnlock();
        });
        List<Boolean> ranBeforeZap = new ArrayList<>();
        h.onChange = () -> {
            MmuHarness.Change c = h.changes.get(h.changes.size() - 1);
            if (c.level() != L2M || !Spte.isShadowPresent(c.oldSpte()))
                return; // a table's parent SPTE going, not its entries
            ranBeforeZap.add(flushesSeenByWriter.get() >= 0);
            if (ranBeforeZap.size() == 1) {
                writer.start();
                while (!mmu.lock.contended())
                    Thread.onSpinWait();
            }
        };
        assertEquals(4, mmu.nx.recover(gfn -> false));
        writer.join();
        assertEquals(List.of(false, true, true, true), ranBeforeZap, "the writer got in after the first table");
        assertEquals(1, flushesSeenByWriter.get(), "the first table's flush came before the yield");
        assertEquals(2, h.flushes.size(), "and one for the other three");
        h.assertQuiescent();
    }
}
