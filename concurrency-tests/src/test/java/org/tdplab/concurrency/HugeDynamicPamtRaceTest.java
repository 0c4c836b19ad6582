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
 * Dynamic PAMT with TDX huge pages: two 2M private leaves (pre-faulted, not accepted) are split at once — one by a
 * conversion of a 4K page inside it to shared, one by the guest's 4K accept inside the other, whose exit KVM answers by
 * splitting ({@code tdx_honor_guest_accept_level}) — so both splits need the TD's per-VM split cache (a conversion
 * holds the slots lock throughout, so two conversions would not meet there). The core asks under the write lock whether
 * it is short, lets go of the lock to top it up and walks again, so the other split can run, or top up, or take the
 * pages meanwhile; the TDX side takes and adds pages under the cache's own lock. Checked: neither split finds the cache
 * short (that bugs the TD), DEMOTE gets its pair both times, and the counts match the module afterwards (D2). With the
 * core splitting right after its topup, without looking again, Fray finds the other split drawing the pages first
 * (iteration 5 of 60 on 2026-12-06: "the TD's split cache ran dry").
 */
@ExtendWith(FrayTestExtension.class)
class HugeDynamicPamtRaceTest {
    @ConcurrencyTest(iterations = 60)
    void twoSplitsTopUpAndDrawOnOneSplitCache() throws Exception {
        Vm vm = new Lab().vm("tdx", 2, Map.of("dynamic_pamt", "on", "huge_pages", "on"));
        vm.addMemslot(0, 0, 2 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(0, 2 * M2, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        vm.prefault(0, 0, 2 * M2); // two 2M leaves, PENDING
        Lab.parallel(() -> completed(vm.convert(0, false, 5 * K4, K4)),
                () -> completed(vm.accept(1, M2 + 9 * K4, K4, PageSize.SIZE_4K)));
        if (vm.bugged())
            throw new AssertionError("the TD is bugged: " + vm.bugReason().orElse(""));
        long demotes = vm.stats().getOrDefault("TDH.MEM.PAGE.DEMOTE", 0L);
        if (demotes != 2)
            throw new AssertionError("two splits, " + demotes + " DEMOTEs");
        Lab.assertConsistent(vm);
    }

    private static void completed(AccessResult r) {
        if (!r.completed())
            throw new AssertionError("the operation ended " + r);
    }
}
