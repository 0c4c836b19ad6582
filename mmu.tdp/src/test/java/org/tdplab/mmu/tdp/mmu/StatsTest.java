package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class StatsTest {
    @Test
    void aPageBatchHoldsTheWriteLockHoldersLeafCountsUntilItIsFlushedOrClosed() {
        Stats s = new Stats();
        s.addPages(1, 5, true); // no batch open: straight into the counters
        assertEquals(5, s.get(Stat.PAGES_4K));
        assertTrue(s.openPageBatch());
        assertFalse(s.openPageBatch(), "an inner zap leaves the outer one's batch to it");
        s.addPages(1, -3, true);
        s.addPages(2, 1, true);
        s.addPages(1, 1, false); // a change under the read lock counts at once, batch or not
        assertEquals(6, s.get(Stat.PAGES_4K));
        assertEquals(0, s.get(Stat.PAGES_2M));
        assertTrue(s.closePageBatch()); // the lock is let go for a moment: whoever takes it sees the counts whole
        assertEquals(3, s.get(Stat.PAGES_4K));
        assertEquals(1, s.get(Stat.PAGES_2M));
        s.addPages(2, 1, true); // another holder meanwhile: straight in
        assertEquals(2, s.get(Stat.PAGES_2M));
        assertTrue(s.openPageBatch()); // the opener has the lock again
        s.addPages(3, 1, true);
        assertEquals(0, s.get(Stat.PAGES_1G));
        assertTrue(s.closePageBatch());
        assertFalse(s.closePageBatch(), "closed already");
        assertEquals(1, s.get(Stat.PAGES_1G));
        s.addPages(1, 2, true); // closed: straight in again
        assertEquals(5, s.get(Stat.PAGES_4K));
        assertTrue(s.openPageBatch(), "closed, so a later zap opens it again");
        s.closePageBatch();
    }
}
