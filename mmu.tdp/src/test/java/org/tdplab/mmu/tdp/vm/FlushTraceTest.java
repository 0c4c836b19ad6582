package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;

/**
 * A remote TLB flush reaches the observers ({@code kvm_flush_remote_tlbs_range} in the trace) with its range, and
 * the vCPU's TLB: a translation cached before a zap is not used after it.
 */
class FlushTraceTest {
    @Test
    void aZapFlushesTheRangeItZappedAndTheVcpuStopsUsingIt() {
        List<String> flushes = new CopyOnWriteArrayList<>();
        List<MmuObserver> observers = new CopyOnWriteArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void tlbFlush(String vm, long gfn, long pages) {
                flushes.add("0x" + Long.toHexString(gfn) + "+" + pages);
            }
        });
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x4000, 0x1000, Encoding.CURRENT, 9).completed());
        assertEquals(9, vm.access(0, Access.READ, 0x4000, 0x1000, Encoding.CURRENT, 0).value(), "cached in the TLB");
        assertTrue(flushes.isEmpty(), "mapping flushes nothing");
        vm.zapGfnRange(0x4000, 0x2000);
        assertEquals(List.of("0x4+2"), flushes);
        long faults = vm.stats().get("pf_taken");
        vm.access(0, Access.READ, 0x4000, 0x1000, Encoding.CURRENT, 0);
        assertEquals(faults + 1, vm.stats().get("pf_taken"), "the flushed translation faults again");
    }
}
