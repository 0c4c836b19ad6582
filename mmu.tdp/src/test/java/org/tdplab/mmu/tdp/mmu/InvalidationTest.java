package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The invalidation window a fault checks before installing a pfn ({@code mmu_invalidate_retry_gfn}): the GFNs at the
 * edges of the range, nested windows, and the sequence that outlives the window.
 */
class InvalidationTest {
    private final Invalidation inv = new Invalidation();

    @Test
    void aFaultInsideAnOpenWindowRetriesAndOneOutsideDoesNot() {
        long seq = inv.seq();
        assertFalse(inv.retry(seq, 0x10), "no window: the snapshot holds");
        assertFalse(inv.inProgress(0x10));
        inv.begin(0x10, 0x20);
        assertEquals(seq, inv.seq(), "begin does not move the sequence");
        assertFalse(inv.retry(seq, 0x0f));
        assertTrue(inv.retry(seq, 0x10));
        assertTrue(inv.retry(seq, 0x1f));
        assertFalse(inv.retry(seq, 0x20), "the end is exclusive");
        assertFalse(inv.inProgress(0x0f));
        assertTrue(inv.inProgress(0x10));
        assertTrue(inv.inProgress(0x1f));
        assertFalse(inv.inProgress(0x20));
        inv.end();
        assertEquals(seq + 1, inv.seq());
        assertTrue(inv.retry(seq, 0x40), "an invalidation completed since the snapshot: retry anywhere");
        assertFalse(inv.retry(inv.seq(), 0x10), "the window closed");
        assertFalse(inv.inProgress(0x10));
    }

    @Test
    void aHugeMappingRetriesWhenAnyOfItOverlapsTheWindow() {
        long seq = inv.seq();
        inv.begin(0x200, 0x201);
        assertTrue(inv.retry(seq, 0x000, 0x400), "the window is inside the mapping");
        assertTrue(inv.retry(seq, 0x200, 0x201));
        assertFalse(inv.retry(seq, 0x000, 0x200), "ends where the window starts");
        assertFalse(inv.retry(seq, 0x201, 0x400), "starts where the window ends");
        assertTrue(inv.retry(seq, 0x1ff, 0x201));
        inv.end();
        assertFalse(inv.retry(seq + 1, 0x000, 0x400));
        assertTrue(inv.retry(seq, 0x000, 0x1), "the sequence moved on");
    }

    @Test
    void nestedWindowsCoverTheirUnionUntilTheLastEnds() {
        long seq = inv.seq();
        inv.begin(0x100, 0x200);
        inv.begin(0x300, 0x400);
        assertTrue(inv.inProgress(0x100));
        assertTrue(inv.inProgress(0x250), "the range spans both windows");
        assertTrue(inv.inProgress(0x3ff));
        assertFalse(inv.inProgress(0x400));
        assertFalse(inv.inProgress(0xff));
        inv.begin(0x180, 0x190);
        assertTrue(inv.inProgress(0x100), "a smaller window does not shrink the range");
        assertTrue(inv.inProgress(0x3ff));
        inv.end();
        inv.end();
        assertTrue(inv.inProgress(0x100), "one window is still open");
        assertTrue(inv.retry(seq + 2, 0x150));
        inv.end();
        assertFalse(inv.inProgress(0x100));
        assertFalse(inv.inProgress(0x3ff));
        assertFalse(inv.retry(seq + 3, 0x150));
        assertFalse(inv.retry(seq + 3, 0x0, Long.MAX_VALUE), "no window is left open");
        inv.begin(0x10, 0x11);
        assertFalse(inv.inProgress(0x100), "a new window starts from its own range");
        assertTrue(inv.inProgress(0x10));
    }

    @Test
    void itDescribesItsWindowForADiagnosis() {
        assertEquals("none in progress, seq 0", inv.describe());
        inv.begin(0x100, 0x200);
        inv.begin(0x300, 0x400);
        assertEquals("2 in progress over gfn [0x100, 0x400), seq 0", inv.describe());
        inv.end();
        inv.end();
        assertEquals("none in progress, seq 2", inv.describe());
    }
}
