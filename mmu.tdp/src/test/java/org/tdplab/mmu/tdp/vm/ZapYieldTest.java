package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.tdp.mmu.Roots;

/**
 * A write-lock zap that yields the MMU lock to a waiter ({@code tdp_mmu_iter_cond_resched}) resumes where it was,
 * even when the waiter zaps another range meanwhile with the zapper's one write-lock iterator.
 */
class ZapYieldTest {
    private static final long K4 = 4096, M1 = 1L << 20;

    @Test
    void aYieldingZapResumesWhereItWasAfterAnotherZapRan() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
            slot(vm, 0, 0, 8 * M1, PageSize.SIZE_4K);
            assertTrue(vm.access(0, Access.WRITE, 0, 8 * M1, Encoding.CURRENT, 7).completed());
            long first = 0, firstEnd = (2 * M1) >>> 12; // the zap that yields
            long other = (6 * M1) >>> 12, otherEnd = (8 * M1) >>> 12; // the waiter's zap, past it
            vm.mmu.lock.writeLock();
            Thread waiter = new Thread(() -> {
                vm.mmu.lock.writeLock();
                try {
                    vm.mmu.zap.zapLeafs(Roots.VALID_ROOTS, other, otherEnd);
                } finally {
                    vm.mmu.lock.writeUnlock();
                }
            });
            try {
                waiter.start();
                while (!vm.mmu.lock.contended())
                    Thread.onSpinWait();
                vm.mmu.zap.zapLeafs(Roots.VALID_ROOTS, first, firstEnd); // yields once it made progress
                assertNull(vm.mmu.zap.survivor(Roots.VALID_ROOTS, first, firstEnd));
            } finally {
                vm.mmu.lock.writeUnlock();
            }
            waiter.join();
            assertNull(vm.mmu.zap.survivor(Roots.VALID_ROOTS, other, otherEnd));
        });
    }
}
