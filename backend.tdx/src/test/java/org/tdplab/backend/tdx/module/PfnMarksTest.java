package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PfnMarksTest {
    @Test
    void aFrameIsNewOnlyTheFirstTime() {
        PfnMarks marks = new PfnMarks();
        long[] pfns = { 0, 1, 63, 64, 32767, 32768, 1L << 32, (1L << 32) + 1, 5, (1L << 35) - 1, 1L << 35, 1L << 40 };
        for (long pfn : pfns)
            assertTrue(marks.mark(pfn), "first mark of 0x" + Long.toHexString(pfn));
        for (long pfn : pfns)
            assertFalse(marks.mark(pfn), "second mark of 0x" + Long.toHexString(pfn));
        assertTrue(marks.mark(2), "a neighbour in the same word is distinct");
    }

    /** Marks that alternate between chunks (a check's S-EPT pages and leaf frames) allocate nothing once made. */
    @Test
    void alternatingChunksAllocateNothing() {
        PfnMarks marks = new PfnMarks();
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        marks.mark(1000 << 15);
        marks.mark(0);
        long before = mx.getCurrentThreadAllocatedBytes();
        for (long i = 1; i < 10_000; i++) {
            marks.mark(i);
            marks.mark((1000L << 15) + i);
        }
        long allocated = mx.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated < 1024, allocated + " bytes for 20,000 marks in two chunks");
    }
}
