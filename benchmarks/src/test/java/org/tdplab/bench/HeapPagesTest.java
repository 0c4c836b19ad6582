package org.tdplab.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HeapPagesTest {
    private static final long GIB_KB = 1L << 20;

    @Test
    void warnsWhenLessThanHalfTheHeapIsInHugePages() {
        String w = HeapPages.warning(true, 400L << 10, GIB_KB);
        assertTrue(w.startsWith("bench: warning: only 400 of the process's 1024 MiB of heap and other memory are in "
                + "transparent huge pages"), w);
        assertTrue(w.contains("compact_memory"), w);
        assertNull(HeapPages.warning(true, 512L << 10, GIB_KB), "half is enough");
        assertNull(HeapPages.warning(true, GIB_KB, GIB_KB));
        assertNull(HeapPages.warning(false, 0, GIB_KB), "not asked for, or the heap not touched: no warning");
    }

    @Test
    void readsAnonHugePagesOfSmapsRollup() {
        String rollup = "558a54e15000-7fff72e85000 ---p 00000000 00:00 0   [rollup]\nRss:  1784 kB\n"
                + "Anonymous:  116 kB\nAnonHugePages:   1048576 kB\nShmemPmdMapped:  0 kB\n";
        assertEquals(1L << 20, HeapPages.field(rollup, "AnonHugePages"));
        assertEquals(116, HeapPages.field(rollup, "Anonymous"));
        assertEquals(-1, HeapPages.field("Rss: 1 kB\n", "AnonHugePages"));
        assertEquals(-1, HeapPages.field("AnonHugePages: many kB\n", "AnonHugePages"));
    }
}
