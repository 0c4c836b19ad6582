package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PfnMarksTest {
    @Test
    void aFrameIsNewOnlyTheFirstTime() {
        PfnMarks marks = new PfnMarks();
        long[] pfns = { 0, 1, 63, 64, 32767, 32768, 1L << 32, (1L << 32) + 1, 5 };
        for (long pfn : pfns)
            assertTrue(marks.mark(pfn), "first mark of 0x" + Long.toHexString(pfn));
        for (long pfn : pfns)
            assertFalse(marks.mark(pfn), "second mark of 0x" + Long.toHexString(pfn));
        assertTrue(marks.mark(2), "a neighbour in the same word is distinct");
    }
}
