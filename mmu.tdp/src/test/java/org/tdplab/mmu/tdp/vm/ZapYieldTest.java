package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.spte.Spte;

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
            zapYieldingTo(vm, Roots.VALID_ROOTS, first, firstEnd,
                    () -> vm.mmu.zap.zapLeafs(Roots.VALID_ROOTS, other, otherEnd));
            assertNull(vm.mmu.zap.survivor(Roots.VALID_ROOTS, first, firstEnd));
            assertNull(vm.mmu.zap.survivor(Roots.VALID_ROOTS, other, otherEnd));
        });
    }

    /**
     * While a zap yields, the root it walks is invalidated and fast-zapped, the vCPU drops its last reference, and a
     * fault takes a table — the id the freed root had, if it was freed. The zap holds a reference to each root
     * across its yields ({@code for_each_tdp_mmu_root_yield_safe}), so the root is not freed and the zap resumes on
     * it. Without the reference (soak seed 190937), the zap resumed on the reused id as on a root, four levels
     * up: a 2M leaf there was zapped as a 1G one ({@code pages_1g} -1, {@code pages_2m} one too many).
     */
    @Test
    void aYieldingZapKeepsItsRootAlive() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
            slot(vm, 0, 0, 8 * M1, PageSize.SIZE_4K);
            assertTrue(vm.access(0, Access.WRITE, 0, 2 * M1, Encoding.CURRENT, 7).completed());
            int root = vm.mmu.roots.of(Roots.VALID_ROOTS)[0];
            int[] reused = { -1 };
            zapYieldingTo(vm, Roots.VALID_ROOTS | Roots.INVALID_ROOTS, 0, (2 * M1) >>> 12, () -> {
                // kvm_mmu_zap_all_fast; the lock held twice, so this root zap runs whole without yielding back
                vm.mmu.lock.writeLock();
                try {
                    for (int r : vm.mmu.roots.invalidate(Roots.DIRECT_ROOTS)) {
                        vm.mmu.zap.zapRoot(r, false);
                        vm.mmu.roots.put(r); // the MMU's reference
                    }
                } finally {
                    vm.mmu.lock.writeUnlock();
                }
                vm.mmu.roots.put(root); // the vCPU's, as it reloads
                int t = vm.mmu.pool.alloc(Spte.PG_LEVEL_2M, 0, 0); // a fault's new page directory
                vm.mmu.pool.set(TablePool.sptep(t, 0), Spte.makeLeaf(0x5000, Spte.PG_LEVEL_2M, true, true, false,
                        true, false));
                reused[0] = t;
            });
            assertNotEquals(root, reused[0], "the root walked by the zap was freed and its id reused");
            assertEquals(0L, vm.mmu.stats.get(Stat.PAGES_1G));
            assertFalse(vm.mmu.pool.isLive(root), "the zap's reference was the last: the root is gone now");
        });
    }

    /**
     * A zap of {@code [start, end)} over the roots of {@code types} under the write lock while another thread waits
     * for the lock to run {@code waiter} under it: the zap yields to it once it made progress.
     */
    private static void zapYieldingTo(CoreVm vm, int types, long start, long end, Runnable waiter)
            throws InterruptedException {
        vm.mmu.lock.writeLock();
        Thread t = new Thread(() -> {
            vm.mmu.lock.writeLock();
            try {
                waiter.run();
            } finally {
                vm.mmu.lock.writeUnlock();
            }
        });
        try {
            t.start();
            while (!vm.mmu.lock.contended())
                Thread.onSpinWait();
            vm.mmu.zap.zapLeafs(types, start, end); // yields once it made progress
        } finally {
            vm.mmu.lock.writeUnlock();
        }
        t.join();
    }
}
