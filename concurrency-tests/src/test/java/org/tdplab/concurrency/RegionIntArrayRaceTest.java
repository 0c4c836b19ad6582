package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.mem.RegionIntArray;

/**
 * {@link RegionLongArrayRaceTest}'s races on {@link RegionIntArray} (host memory's per-frame owner), which shares its
 * storage logic (the package's {@code RegionArray}) with regions of twice the entries: slots taking and leaving a
 * region's chunk under lock-free readers, and two writers making a slot's storage at once. Fails with storage made
 * outside the monitor (checked: {@code make} unsynchronized, the two writers' test failed at iteration 34; again
 * with {@code RegionArray.make} unsynchronized, here and in {@link RegionLongArrayRaceTest}).
 */
@ExtendWith(FrayTestExtension.class)
class RegionIntArrayRaceTest {
    private static final int FAN = 512, REGION = 1 << 20;

    @ConcurrencyTest(iterations = 300)
    void slotsTakeAndLeaveAChunkWhileReadersRead() throws Exception {
        RegionIntArray a = new RegionIntArray(1L << 21, 1, 1);
        a.set(3, 1); // a leaf
        a.set(FAN + 3, 2); // the region's chunk
        AtomicInteger running = new AtomicInteger(2);
        Lab.parallel(() -> {
            a.set(2 * FAN + 3, 3);
            a.set(3 * FAN + 4, 4);
            a.set(2 * FAN + 5, 5);
            running.decrementAndGet();
        }, () -> {
            a.releaseRange(FAN, 2 * FAN);
            a.set(2 * FAN + 7, 7);
            a.set(FAN + 6, 6);
            running.decrementAndGet();
        }, () -> {
            for (int round = 0; round < 2 || running.get() > 0; round++) {
                long v3 = a.get(2 * FAN + 3), v1 = a.get(FAN + 3), v6 = a.get(FAN + 6);
                expect((v3 == 0 || v3 == 3) && (v1 == 0 || v1 == 2) && (v6 == 0 || v6 == 6) && a.get(3) == 1,
                        "read " + v3 + "/" + v1 + "/" + v6 + "/" + a.get(3));
            }
        });
        expect(a.get(3) == 1 && a.get(FAN + 3) == 0 && a.get(FAN + 6) == 6 && a.get(2 * FAN + 3) == 3
 && a.get(2 * FAN + 7) == 7
                && a.get(3 * FAN + 4) == 4 && a.get(2 * FAN + 5) == 5, "values " + a.get(3) + "/" + a.get(FAN + 3)
                        + "/" + a.get(FAN + 6) + "/" + a.get(2 * FAN + 3) + "/" + a.get(3 * FAN + 4) + "/"
                        + a.get(2 * FAN + 5));
        expect(a.chunks() == 1 && a.leaves() == 4, "chunks " + a.chunks() + ", slots " + a.leaves());
        a.releaseRange(0, 4 * FAN);
        expect(a.chunks() == 0 && a.leaves() == 0, "after release: chunks " + a.chunks() + ", slots " + a.leaves());
    }

    /**
     * Two writers of different entries in a slot with no storage yet, and again in a region's chunk dropped under them
     * by a release: each slot gets one leaf or one chunk, and no write is lost. Fails with storage made outside the
     * monitor (each writer links storage of its own, and the later link loses the other's write; checked: iteration 12).
     */
    @ConcurrencyTest(iterations = 300)
    void twoWritersMakeASlotsStorageOnce() throws Exception {
        RegionIntArray a = new RegionIntArray(1L << 21, 2, 1);
        a.set(3, 1); // a leaf
        a.set(FAN + 3, 2); // another
        a.set(6 * FAN, 3); // the region's chunk, dropped by the release
        Lab.parallel(() -> {
            a.set(5 * FAN + 1, 11); // in the chunk, or a new one if the release dropped it first
            a.set(REGION + 5 * FAN + 1, 11); // a leaf of region 1, made once
            a.set(2 * FAN + 1, 21);
        }, () -> {
            a.releaseRange(6 * FAN, 7 * FAN);
            a.set(5 * FAN + 2, 12);
            a.set(REGION + 5 * FAN + 2, 12);
            a.set(2 * FAN + 2, 22);
        });
        expect(a.get(5 * FAN + 1) == 11 && a.get(5 * FAN + 2) == 12 && a.get(2 * FAN + 1) == 21
                && a.get(REGION + 5 * FAN + 1) == 11 && a.get(REGION + 5 * FAN + 2) == 12
                && a.get(2 * FAN + 2) == 22, "values " + a.get(5 * FAN + 1) + "/" + a.get(5 * FAN + 2) + "/"
                        + a.get(2 * FAN + 1) + "/" + a.get(2 * FAN + 2) + "/" + a.get(REGION + 5 * FAN + 1) + "/"
                        + a.get(REGION + 5 * FAN + 2));
        expect(a.chunks() == 1 && a.leaves() == 5, "chunks " + a.chunks() + ", slots " + a.leaves());
    }
}
