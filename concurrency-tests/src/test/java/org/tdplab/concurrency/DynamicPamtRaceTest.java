package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * Dynamic PAMT's counts ({@code tdx_pamt_get}) under the MMU lock held for read: two vCPUs of a TD take the first
 * pages of one 2M range of host memory at once. One adds the pair (TDH.PHYMEM.PAMT.ADD), the other must find it
 * there and only count — {@code dpamt_lock} holds the look at the count and the ADD together; a second ADD is
 * refused ({@code TDX_HPA_RANGE_NOT_FREE}) and bugs the TD. Checked: with the count looked at before the lock (v6's
 * fast path without its second look), Fray finds that second ADD: at its first iteration on 2026-12-05, when the
 * test counted the ADDs, and at iteration 39 of 100 on 2026-12-06 with this check (the count read before the lock).
 */
@ExtendWith(FrayTestExtension.class)
class DynamicPamtRaceTest {
    @ConcurrencyTest(iterations = 100)
    void twoFirstPagesOfOneRange() throws Exception {
        Vm vm = new Lab().vm("tdx", 2, Map.of("dynamic_pamt", "on"));
        // 2M folios: the private pages of GPA [0, 2M) are one 2M range of host memory
        vm.addMemslot(0, 0, 2 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, 2 * M2, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        completed(vm.accept(0, M2, K4, PageSize.SIZE_4K)); // the upper tables; the race is the leaves' ranges
        Lab.parallel(() -> completed(vm.accept(0, 0, K4, PageSize.SIZE_4K)),
                () -> completed(vm.accept(1, 4 * K4, K4, PageSize.SIZE_4K)));
        // a second ADD of the range is refused (TDX_HPA_RANGE_NOT_FREE) and bugs the TD: an accept ends vm_dead
        // (how many ADDs there are depends on where the host put the new S-EPT page: its range may be new too)
        if (vm.bugged())
            throw new AssertionError("the TD is bugged: " + vm.bugReason().orElse(""));
        Lab.assertConsistent(vm);
    }

    private static void completed(AccessResult r) {
        if (!r.completed())
            throw new AssertionError("the accept ended " + r);
    }
}
