package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The PAMT's bookkeeping: a 2M chunk goes away exactly when its last non-free entry does. */
class PamtTest {
    private static final long REG = Pamt.entry(Pamt.PT_REG, Pamt.SIZE_4K, 7, 0);

    @Test
    void aChunkLivesWhileAnyOfItsPagesIsOwned() {
        Pamt p = new Pamt();
        p.set(1024, Pamt.SIZE_4K, REG);
        p.set(1025, Pamt.SIZE_4K, REG);
        p.set(1025, Pamt.SIZE_4K, REG); // the same page again: still two owned pages
        p.free(1024, Pamt.SIZE_4K, -1);
        assertFalse(p.isEmpty(), "page 1025 is still owned");
        assertEquals(Pamt.PT_REG, p.typeOf(1025));
        p.free(1025, Pamt.SIZE_4K, -1);
        assertTrue(p.isEmpty());
        p.free(1025, Pamt.SIZE_4K, -1); // freeing a free page changes nothing
        assertTrue(p.isEmpty());
    }

    @Test
    void aBepochIsKeptWhateverItsSizeAndGoesThroughExportAndRestore() {
        Pamt p = new Pamt();
        long epoch = (1L << 39) + 12345; // 40 bits: the field's width
        p.set(1024, Pamt.SIZE_4K, REG);
        p.set(1025, Pamt.SIZE_4K, REG);
        p.setBepoch(1025, epoch);
        assertEquals(epoch, Pamt.bepoch(p.get(1025)));
        assertEquals(0, Pamt.bepoch(p.get(1024)));
        assertEquals(Pamt.PT_REG, p.typeOf(1025));
        assertEquals(7, Pamt.owner(p.get(1025)));
        Pamt q = new Pamt();
        q.restore(p.export());
        assertEquals(p.get(1025), q.get(1025));
        assertEquals(p.get(1024), q.get(1024));
        p.set(1025, Pamt.SIZE_4K, REG); // a new owner: no bepoch
        assertEquals(REG, p.get(1025));
        p.setBepoch(1025, 3);
        assertEquals(3, Pamt.bepoch(p.get(1025)));
        p.free(1025, Pamt.SIZE_4K, -1);
        p.free(1024, Pamt.SIZE_4K, -1);
        assertTrue(p.isEmpty());
        p.set(1025, Pamt.SIZE_4K, REG); // the chunk made again: nothing of the old bepoch
        assertEquals(REG, p.get(1025));
    }

    @Test
    void aDirtyPageKeepsItsChunkUntilItsWriteBack() {
        Pamt p = new Pamt();
        p.set(512, Pamt.SIZE_2M, REG);
        for (long pfn = 512; pfn < 1024; pfn++)
            p.free(pfn, Pamt.SIZE_4K, pfn == 700 ? 3 : -1);
        assertFalse(p.isEmpty(), "page 700 waits for its WBINVD");
        assertEquals(3, p.dirtyKeyId(700));
        assertEquals(Pamt.PT_NDA, p.typeOf(700));
        p.flush(700, 2); // another KeyID: still dirty
        assertFalse(p.isEmpty());
        p.flush(700, 3);
        assertTrue(p.isEmpty());
    }

    @Test
    void writeBackOfEverythingDropsChunksLeftOnlyDirty() {
        Pamt p = new Pamt();
        p.set(0, Pamt.SIZE_4K, REG);
        p.free(0, Pamt.SIZE_4K, 5);
        p.set(600, Pamt.SIZE_4K, REG);
        p.set(601, Pamt.SIZE_4K, REG);
        p.free(601, Pamt.SIZE_4K, 5);
        p.flushAll();
        List<Long> owned = new ArrayList<>();
        p.forEachAssigned(owned::add);
        assertEquals(List.of(600L), owned);
        p.free(600, Pamt.SIZE_4K, -1);
        assertTrue(p.isEmpty());
    }

    /** Pages far apart in host memory (8 GiB, 4 TiB): each found again, visited in order, and gone when freed. */
    @Test
    void pagesFarApartAreKeptAndScannedInOrder() {
        Pamt p = new Pamt();
        long[] pfns = { 1L << 30, 5, (1L << 21) + 3, (1L << 21) - 1 };
        for (long pfn : pfns)
            p.set(pfn, Pamt.SIZE_4K, REG);
        List<Long> owned = new ArrayList<>();
        p.forEachAssigned(owned::add);
        assertEquals(List.of(5L, (1L << 21) - 1, (1L << 21) + 3, 1L << 30), owned);
        assertEquals(Pamt.PT_NDA, p.typeOf((1L << 30) + 512), "the chunk after a kept one");
        assertEquals(Pamt.PT_NDA, p.typeOf(1L << 40), "past every directory");
        for (long pfn : pfns)
            p.free(pfn, Pamt.SIZE_4K, -1);
        assertTrue(p.isEmpty());
        p.set(1L << 30, Pamt.SIZE_4K, REG); // a chunk made again where one went
        assertEquals(Pamt.PT_REG, p.typeOf(1L << 30));
    }

    /**
     * Two AUGs (the module's lock shared) set the entries of pages in chunks no one made yet, and read entries of
     * other chunks, while the directories of chunks grow: every entry reads as it was set, and the chunks' counts stay
     * exact.
     */
    @Test
    void entriesSetAtOnceInNewChunksAreAllKept() throws Exception {
        Pamt pamt = new Pamt();
        int perThread = 20_000;
        long reg = Pamt.entry(Pamt.PT_REG, Pamt.SIZE_4K, 1, 0);
        Throwable[] failure = new Throwable[1];
        Thread[] augs = new Thread[2];
        for (int t = 0; t < 2; t++) {
            int me = t;
            augs[t] = new Thread(() -> {
                try {
                    for (int k = 0; k < perThread; k++) {
                        long pfn = (2L * k + me) << 9 | (k & 255);
                        pamt.set(pfn, Pamt.SIZE_4K, reg);
                        if (pamt.get(pfn) != reg)
                            throw new AssertionError("pfn 0x" + Long.toHexString(pfn) + " reads " + pamt.get(pfn));
                        pamt.set(pfn + 1, Pamt.SIZE_4K, reg); // a second entry of the same chunk
                    }
                } catch (Throwable e) {
                    synchronized (failure) {
                        failure[0] = e;
                    }
                }
            });
            augs[t].start();
        }
        for (Thread t : augs)
            t.join();
        if (failure[0] != null)
            throw new AssertionError(failure[0]);
        for (int k = 0; k < 2 * perThread; k++) {
            long pfn = (long) k << 9 | ((k / 2) & 255);
            assertEquals(reg, pamt.get(pfn), "pfn 0x" + Long.toHexString(pfn));
            assertEquals(reg, pamt.get(pfn + 1), "pfn 0x" + Long.toHexString(pfn + 1));
        }
        for (int k = 0; k < 2 * perThread; k++) {
            long pfn = (long) k << 9 | ((k / 2) & 255);
            assertEquals(reg, pamt.get(pfn), "pfn 0x" + Long.toHexString(pfn) + " after others were freed");
            pamt.free(pfn, Pamt.SIZE_4K, -1);
            pamt.free(pfn + 1, Pamt.SIZE_4K, -1);
        }
        assertTrue(pamt.isEmpty(), "every chunk's count reached zero");
    }
}
