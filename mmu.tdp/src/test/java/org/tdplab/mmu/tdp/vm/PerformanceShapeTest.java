package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.lang.management.ManagementFactory;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;

/**
 * The performance shape the design promises, checked as properties (timing lives in benchmarks): the fault path
 * allocates nothing, and 4K mappings cost about the hardware's 8 bytes of table per page.
 */
class PerformanceShapeTest {
    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
                .getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    @Test
    void refaultingAZappedRangeAllocatesNothingPerFault() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, 8 * M2, PageSize.SIZE_4K);
        long size = 4 * M2;
        vm.access(0, Access.WRITE, 0, size, Encoding.CURRENT, 1); // host pages, tables, TLB warmed
        for (int warm = 0; warm < 3; warm++) {
            vm.zapGfnRange(0, size);
            vm.access(0, Access.READ, 0, size, Encoding.CURRENT, 0);
        }
        vm.zapGfnRange(0, size);
        long faultsBefore = vm.stats().get("pf_fixed");
        long before = allocatedBytes();
        vm.access(0, Access.READ, 0, size, Encoding.CURRENT, 0);
        long allocated = allocatedBytes() - before;
        long faults = vm.stats().get("pf_fixed") - faultsBefore;
        assertEquals(size >>> 12, faults, "one fault per 4K page");
        // one AccessResult per call is allowed, and JIT noise; under 8 bytes per fault means no object per fault
        assertTrue(allocated < 8 * faults, "allocated " + allocated + " bytes for " + faults + " faults");
    }

    @Test
    void fourKMappingsCostAboutEightBytesOfTablePerPage() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        long size = 64 * M2; // 32768 pages
        slot(vm, 0, 0, size, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, size, Encoding.CURRENT, 1);
        long pages = size >>> 12;
        double perPage = (double) vm.mmu.pool.bytes() / pages;
        assertEquals(pages, vm.stats().get("pages_4k"));
        // 64 leaf tables of 8-byte entries, plus one table per level above them on the path from the root
        assertEquals(64 + 3, vm.mmu.pool.liveTables());
        assertEquals(8.0, (vm.mmu.pool.bytes() - 3 * 4096.0) / pages, "leaf-table bytes per page; total " + perPage);
    }
}
