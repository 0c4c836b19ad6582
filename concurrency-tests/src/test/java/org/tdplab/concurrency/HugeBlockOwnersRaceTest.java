package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;

/**
 * Host memory's owners of huge blocks, kept once per 2M block in a leaf per 1G region: the leaf goes when the last
 * huge block of its region is freed. One thread frees a 2M block (the region's last, so its leaf may go) while another
 * allocates a 2M block in the same region and reads its owner back, and a reader reads owners lock-free. The new
 * block keeps its owner, and a reader sees a block's owner or FREE. Fails when the leaf is dropped outside the host
 * memory's lock (the allocation's owner word, written into the leaf being unlinked, is lost: its block reads FREE).
 */
@ExtendWith(FrayTestExtension.class)
class HugeBlockOwnersRaceTest {
    @ConcurrencyTest(iterations = 300)
    void aHugeBlocksOwnerSurvivesTheLastOneBeforeItLeaving() throws Exception {
        HostMemory mem = new HostMemory(1L << 30); // one 1G region
        long first = mem.alloc(Levels.L2M, HostMemory.SHARED, 1);
        long[] second = { -1 };
        AtomicInteger running = new AtomicInteger(2);
        Lab.parallel(() -> {
            try {
                mem.free(first, Levels.L2M);
            } finally {
                running.decrementAndGet();
            }
        }, () -> {
            try {
                second[0] = mem.alloc(Levels.L2M, HostMemory.GMEM, 2);
                int kind = mem.ownerKind(second[0] + 7);
                expect(kind == HostMemory.GMEM, "the new block's owner reads " + kind);
            } finally {
                running.decrementAndGet();
            }
        }, () -> {
            for (int round = 0; round < 2 || running.get() > 0; round++) {
                int k = mem.ownerKind(first + 3);
                expect(k == HostMemory.SHARED || k == HostMemory.FREE || k == HostMemory.GMEM, "read " + k);
            }
        });
        expect(mem.ownerKind(second[0]) == HostMemory.GMEM && mem.ownerKind(second[0] + 511) == HostMemory.GMEM,
                "after: " + mem.ownerKind(second[0]));
        expect(mem.framesInUse(HostMemory.GMEM) == 512, "GMEM frames " + mem.framesInUse(HostMemory.GMEM));
    }
}
