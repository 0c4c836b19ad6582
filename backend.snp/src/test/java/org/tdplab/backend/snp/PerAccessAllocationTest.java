package org.tdplab.backend.snp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.tdp.vm.Standalone;

/** The RMP checks of every nested walk, and the max-level lookup of every private fault, allocate nothing. */
class PerAccessAllocationTest {
    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
                .getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    @Test
    void refaultingValidatedPrivatePagesAllocatesNothingPerAccess() {
        Vm vm = Standalone.vmManager(new SnpBackend()).create("alloc", "snp", 1, 48, Map.of());
        long size = 8L << 20;
        vm.addMemslot(0, 0, size, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, size, true);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        assertTrue(vm.accept(0, 0, size, PageSize.SIZE_4K).completed());
        vm.access(0, Access.WRITE, 0, size, Encoding.PRIVATE, 1);
        for (int warm = 0; warm < 3; warm++) {
            vm.zapGfnRange(0, size);
            vm.access(0, Access.READ, 0, size, Encoding.PRIVATE, 0);
        }
        vm.zapGfnRange(0, size);
        long faultsBefore = vm.stats().get("pf_fixed");
        long before = allocatedBytes();
        vm.access(0, Access.READ, 0, size, Encoding.PRIVATE, 0);
        long allocated = allocatedBytes() - before;
        assertEquals(size >>> 12, vm.stats().get("pf_fixed") - faultsBefore, "one fault and one RMP check per page");
        // under 8 bytes per access: no object per access (JIT and class loading leave a few KiB)
        assertTrue(allocated < 8L * (size >>> 12), "allocated " + allocated + " bytes for " + (size >>> 12) + " pages");
        vm.destroy();
    }

    /**
     * The check visits every leaf allocating nothing per leaf: what a check of a VM four times larger allocates on top
     * is under a byte per extra leaf (each leaf's decoded {@code SpteChange.Entry} alone would be 24 or more).
     */
    @Test
    void theCheckAllocatesNothingPerLeaf() {
        long small = checkAllocation(4L << 20), large = checkAllocation(16L << 20);
        long extraLeaves = (16L << 20 >>> 12) - (4L << 20 >>> 12);
        assertTrue(large - small < extraLeaves, "a check of 4096 leaves allocated " + large + " bytes, of 1024 "
                + small);
    }

    /** Bytes the VM's check allocates with {@code size} of private memory mapped 4K (its third check: warmed up). */
    private static long checkAllocation(long size) {
        Vm vm = Standalone.vmManager(new SnpBackend()).create("alloc", "snp", 1, 48, Map.of());
        vm.addMemslot(0, 0, size, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, size, true);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        assertTrue(vm.accept(0, 0, size, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0, size, Encoding.PRIVATE, 1).completed());
        long allocated = 0;
        for (int round = 0; round < 3; round++) {
            long before = allocatedBytes();
            assertTrue(vm.check().ok());
            allocated = allocatedBytes() - before;
        }
        vm.destroy();
        return allocated;
    }
}
