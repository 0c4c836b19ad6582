package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * SNP vCPUs run while {@code snp.launch_finish} makes their VMSAs guest pages: each run either fails its entry
 * whole ({@code KVM_EXIT_FAIL_ENTRY}, no page touched, no PVALIDATE: the entry is one check before the guest runs)
 * or enters and completes; after the finish every vCPU enters, and the model is consistent.
 */
@ExtendWith(FrayTestExtension.class)
class FailEntryRaceTest {
    @ConcurrencyTest(iterations = 60)
    void launchFinishAgainstRuns() throws Exception {
        Vm vm = new Lab().vm("snp", 2, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        AccessResult[] r = new AccessResult[2];
        Lab.parallel(() -> r[0] = vm.accept(0, 0, 2 * K4, PageSize.SIZE_4K),
                () -> r[1] = vm.accept(1, 2 * K4, 2 * K4, PageSize.SIZE_4K),
                () -> vm.invoke("launch_finish", VerbArgs.none("launch_finish")));
        long entered = 0;
        for (AccessResult a : r)
            entered += a.completed() ? a.pages() : 0;
        Lab.expect(vm.stats().getOrDefault("PVALIDATE", 0L) == entered,
                "a run that failed its entry validated pages: PVALIDATE " + vm.stats().get("PVALIDATE") + ", pages "
                        + "of the runs that entered " + entered);
        for (int v = 0; v < 2; v++) {
            AccessResult a = r[v];
            Lab.expect(a.completed() && a.pages() == 2 || a.exit() != null
                    && a.exit().reason() == Exit.Reason.FAIL_ENTRY && a.pages() == 0,
                    "vCPU " + v + "'s run neither entered nor failed its entry whole: " + a);
            if (!a.completed())
                Lab.expect(vm.accept(v, 2 * v * K4, 2 * K4, PageSize.SIZE_4K).completed(),
                        "vCPU " + v + " does not enter after the finish");
        }
        Lab.assertConsistent(vm);
    }
}
