package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;

/**
 * {@link SeptTree#alloc} from two threads at once (two vCPUs' SEPT.ADDs, holding the module's lock shared), with a
 * page freed before so that one of them may reuse it: each gets a page of its own, live, with its own entries,
 * children and frame. The page's arrays are made before the tree's monitor; what the monitor covers — the id, the
 * free list, the tables — must stay inside it. Checked on 2026-12-07: with the free list's head read in a hold of the
 * monitor of its own before the one that pops it (the section split in two), Fray finds both threads given the freed
 * page at its second iteration. (A read of {@code next} outside the monitor, a plain access, is no point where Fray
 * switches threads: it passes that one.)
 */
@ExtendWith(FrayTestExtension.class)
class SeptTreeAllocRaceTest {
    @ConcurrencyTest(iterations = 100)
    void twoAllocationsAtOnce() throws Exception {
        SeptTree tree = new SeptTree();
        int freed = tree.alloc(0, 0, 0x100);
        tree.alloc(0, 512, 0x101);
        tree.free(freed);
        int[] ids = new int[2];
        Thread a = new Thread(() -> ids[0] = tree.alloc(0, 1024, 0x200));
        Thread b = new Thread(() -> ids[1] = tree.alloc(1, 0, 0x300));
        a.start();
        b.start();
        a.join();
        b.join();
        assertNotEquals(ids[0], ids[1]);
        assertEquals(ids[0], tree.pageAt(0x200));
        assertEquals(ids[1], tree.pageAt(0x300));
        assertEquals(0, tree.pageAt(0x100));
        for (int id : ids) {
            assertTrue(tree.isLive(id), "page " + id + " live");
            assertEquals(0, tree.get(id, 511));
        }
        assertEquals(3, tree.livePages());
    }
}
