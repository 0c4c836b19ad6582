package org.tdplab.mmu.tdp.vcpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The vCPU's page-modification log: logged GFNs come out oldest first at the flush, which empties it. */
class PageModificationLogTest {
    @Test
    void aFlushHandsOutWhatWasLoggedInOrderAndEmptiesTheLog() {
        PageModificationLog pml = new PageModificationLog();
        assertTrue(pml.isEmpty());
        pml.log(7);
        pml.log(3);
        assertFalse(pml.isEmpty());
        List<Long> out = new ArrayList<>();
        pml.flush(out::add);
        assertEquals(List.of(7L, 3L), out);
        assertTrue(pml.isEmpty());
        pml.flush(out::add);
        assertEquals(2, out.size(), "nothing twice");
    }

    @Test
    void aFullLogIsAModelBugNotALostPage() {
        PageModificationLog pml = new PageModificationLog();
        for (int i = 0; i < PageModificationLog.ENTRIES; i++)
            pml.log(i);
        assertThrows(IllegalStateException.class, () -> pml.log(512));
        List<Long> out = new ArrayList<>();
        pml.flush(out::add);
        assertEquals(PageModificationLog.ENTRIES, out.size());
        assertEquals(511L, out.get(511));
    }
}
