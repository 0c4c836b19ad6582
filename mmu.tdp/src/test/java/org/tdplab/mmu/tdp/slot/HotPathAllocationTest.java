package org.tdplab.mmu.tdp.slot;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.mem.Levels.L1G;
import static org.tdplab.mmu.tdp.mem.Levels.L2M;

import java.lang.management.ManagementFactory;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.mem.HostMemory;

/** The lookups the fault path makes on every fault must not allocate. */
class HotPathAllocationTest {
    private static final long K4 = 4096, M2 = 2L << 20;

    @Test
    void faultPathLookupsDoNotAllocate() {
        java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) bean;
        Assumptions.assumeTrue(mx.isThreadAllocatedMemorySupported());
        mx.setThreadAllocatedMemoryEnabled(true);

        HostMemory mem = new HostMemory(1L << 32);
        Memslots slots = new Memslots(mem, 1, Memslots.maxGfnFor(48, -1), true, false, null);
        for (int i = 0; i < 16; i++)
            slots.add(i, i * 8 * M2, 4 * M2, i % 2 == 0 ? Memslot.GMEM : Memslot.DIRTY_LOG, L2M);
        MemAttributes attrs = slots.attributes();
        attrs.set(512, 1024, true);
        Memslot gm = slots.find(0), sh = slots.find(8 * 512);
        gm.gmemPfn(3);
        sh.hvaPfn(8 * 512 + 3);

        long sink = run(slots, attrs, gm, sh, mem, 200_000); // warm up: JIT compiles the paths
        long tid = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(tid);
        sink += run(slots, attrs, gm, sh, mem, 1_000_000);
        long allocated = mx.getThreadAllocatedBytes(tid) - before;
        assertTrue(allocated < 4096, "1M lookups allocated " + allocated + " bytes (sink " + sink + ")");
    }

    private static long run(Memslots slots, MemAttributes attrs, Memslot gm, Memslot sh, HostMemory mem, int n) {
        long sink = 0;
        for (int i = 0; i < n; i++) {
            long gfn = (i * 37L) & 1023;
            Memslot s = slots.find(gfn + (i & 15) * 4096L);
            if (s != null)
                sink += s.id();
            if (attrs.isPrivate(gfn))
                sink++;
            sink += gm.gmemPfn(3) + gm.maxMappingLevel(gfn, L1G, true) + (gm.isInvalid() ? 1 : 0);
            sink += sh.hvaPfn(8 * 512 + 3) + sh.hostMappingLevel(8 * 512 + 3) + sh.maxMappingLevel(8 * 512 + gfn, L1G, false);
            sink += mem.read(sh.hvaPfnIfPresent(8 * 512 + 3));
            sh.markDirty(8 * 512 + gfn);
        }
        return sink;
    }
}
