package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * A fault over a page another operation is invalidating retries until that operation ends, however long it runs (a
 * conversion or hole punch of a large range): such retries do not count toward the livelock bound, and the vCPU
 * waits outside its RCU read section, so grace periods go on meanwhile.
 */
class FaultWaitTest {
    @Test
    void aFaultWaitsForAnOpenInvalidationWindowWithoutCountingRetriesOrHoldingRcu() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
            slot(vm, 0, 0, M2, PageSize.SIZE_4K);
            Vcpu v = vm.vcpus.all[0];
            window(vm, true); // another operation invalidates the first 16 pages
            CompletableFuture<AccessResult> access = CompletableFuture
                    .supplyAsync(() -> vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 7));
            while (vm.stats().get("pf_retry") == 0) // the fault found the window (a stat: read across threads)
                Thread.sleep(1);
            vm.mmu.rcu.synchronize(); // returns although the access waits
            Thread.sleep(50);
            assertFalse(access.isDone(), "the access went on inside an open window");
            window(vm, false);
            assertTrue(access.get().completed());
            // the one re-execution after the fault that mapped the page counts; the waits before it do not
            assertEquals(1, v.retries, "waiting for the window counted toward the livelock bound");
            assertEquals(7, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        });
    }

    private static void window(CoreVm vm, boolean open) {
        vm.mmu.lock.writeLock();
        try {
            if (open)
                vm.mmu.invalidation.begin(0, 16);
            else
                vm.mmu.invalidation.end();
        } finally {
            vm.mmu.lock.writeUnlock();
        }
    }
}
