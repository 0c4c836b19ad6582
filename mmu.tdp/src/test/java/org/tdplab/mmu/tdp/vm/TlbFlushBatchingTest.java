package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;

/**
 * TLB flushes as the kernel batches them (§3.11): one per batch, none for aging, splitting or an empty collection;
 * {@code remote_tlb_flush_requests} counts each request, {@code remote_tlb_flush} each flush done.
 */
class TlbFlushBatchingTest {
    private static long flushes(CoreVm vm) {
        assertEquals(vm.stats().get("remote_tlb_flush_requests"), vm.stats().get("remote_tlb_flush"));
        return vm.stats().get("remote_tlb_flush");
    }

    @Test
    void eachOperationFlushesOnceOrNotAtAll() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 2);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_4K);
        slot(vm, 1, 2 * G1, 4 * M2, PageSize.SIZE_2M);
        vm.access(0, Access.WRITE, G1, 4 * M2, Encoding.CURRENT, 1);
        vm.access(1, Access.WRITE, 2 * G1, 4 * M2, Encoding.CURRENT, 2);
        assertEquals(0, flushes(vm));
        vm.age(G1, 4 * M2);
        vm.testAge(G1, 4 * M2);
        assertEquals(0, flushes(vm), "aging never flushes");
        vm.zapGfnRange(G1, 2 * M2); // 1024 leaves, one batch
        assertEquals(1, flushes(vm));
        vm.setDirtyLogging(1, true, DirtyLogOptions.DEFAULT); // split (no flush) + write protect: one flush
        assertEquals(1 + 1, flushes(vm));
        vm.getDirtyLog(1);
        assertEquals(2, flushes(vm), "nothing dirty: nothing to flush");
        vm.access(0, Access.WRITE, 2 * G1, 64 * 0x1000L, Encoding.CURRENT, 3);
        vm.getDirtyLog(1);
        assertEquals(3, flushes(vm), "64 pages re-protected, one flush");
        vm.setDirtyLogging(1, false, DirtyLogOptions.DEFAULT);
        assertEquals(4, flushes(vm), "huge pages recovered, one memslot flush");
        assertClean(vm);
    }
}
