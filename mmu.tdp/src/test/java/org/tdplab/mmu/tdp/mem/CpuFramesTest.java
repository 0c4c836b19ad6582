package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class CpuFramesTest {
    /**
     * Each CPU's list is refilled through a buffer of its own: with the allocator's one buffer, two vCPU threads'
     * refills wrote the same eight cache lines in turn. Fails on that (checked: the second refill overwrote the
     * first's frames in the one buffer).
     */
    @Test
    void twoCpusRefillThroughBuffersOfTheirOwn() {
        HostMemory mem = new HostMemory(1L << 30);
        mem.alloc(Levels.L4K, HostMemory.GMEM, 1); // frame 0 taken: the buffers' first frames are not 0
        long a = mem.alloc(Levels.L4K, HostMemory.GMEM, 1, 0), b = mem.alloc(Levels.L4K, HostMemory.GMEM, 1, 1);
        CpuFrames zero = mem.cpuList(1, 0), one = mem.cpuList(1, 1);
        assertNotSame(zero.refillBuffer, one.refillBuffer);
        assertEquals(a, zero.refillBuffer[0], "vCPU 0's refill in its buffer");
        assertEquals(b, one.refillBuffer[0], "vCPU 1's refill in its buffer");
    }

    @Test
    void aBatchIsHandedOutInTheAllocatorsOrderAndCountedByKind() {
        CpuFrames list = new CpuFrames(7, 3);
        list.refill(new long[] { 100, 101, 102 }, 3);
        assertEquals(3, list.count());
        assertEquals(100, list.take(2));
        assertEquals(101, list.take(0));
        assertEquals(1, list.handedOut(2));
        assertEquals(1, list.handedOut(0));
        assertEquals(0, list.handedOut(1));
        assertThrows(IllegalStateException.class, () -> list.refill(new long[] { 200 }, 1));
        long[] out = new long[CpuFrames.BATCH];
        assertEquals(1, list.drain(out));
        assertEquals(102, out[0]);
        assertEquals(-1, list.take(1));
        assertEquals(0, list.handedOut(1));
    }

    @Test
    void aFullBatchDrainsInTakeOrderReversed() {
        CpuFrames list = new CpuFrames(1, 1);
        long[] batch = new long[CpuFrames.BATCH];
        for (int i = 0; i < batch.length; i++)
            batch[i] = 1000 + i;
        list.refill(batch, batch.length);
        long[] out = new long[CpuFrames.BATCH];
        assertEquals(CpuFrames.BATCH, list.drain(out));
        for (int i = 0; i < out.length; i++)
            assertEquals(1000 + CpuFrames.BATCH - 1 - i, out[i]);
    }

    /** A vCPU's takes beside another thread's drains (the allocator running short): every frame goes out once. */
    @Test
    void takesAndDrainsOfOneListLoseAndRepeatNoFrame() throws InterruptedException {
        CpuFrames list = new CpuFrames(1, 1);
        Set<Long> taken = new HashSet<>(), drained = new HashSet<>();
        AtomicLong next = new AtomicLong();
        int rounds = 20_000;
        Thread drainer = new Thread(() -> {
            long[] out = new long[CpuFrames.BATCH];
            for (int r = 0; r < rounds; r++) {
                int n = list.drain(out);
                for (int i = 0; i < n; i++)
                    drained.add(out[i]);
            }
        });
        drainer.start();
        long[] batch = new long[4];
        for (int r = 0; r < rounds; r++) {
            if (list.count() == 0) { // this thread alone refills (as the allocator's lock makes it in HostMemory)
                for (int i = 0; i < batch.length; i++)
                    batch[i] = next.getAndIncrement();
                list.refill(batch, batch.length);
            }
            long pfn = list.take(0);
            if (pfn >= 0)
                taken.add(pfn);
        }
        drainer.join();
        long[] out = new long[CpuFrames.BATCH];
        int n = list.drain(out);
        for (int i = 0; i < n; i++)
            drained.add(out[i]);
        assertEquals(next.get(), taken.size() + drained.size(), "every frame taken or drained once");
        Set<Long> both = new HashSet<>(taken);
        both.retainAll(drained);
        assertEquals(Set.of(), both);
        assertEquals(taken.size(), list.handedOut(0));
    }
}
