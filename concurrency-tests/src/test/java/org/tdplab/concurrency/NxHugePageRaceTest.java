package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;

/**
 * The possible-NX list against tables that leave the roots (invariant 0: {@code nx_lpage_splits} = the list =
 * the linked tables split for NX). The kernel tracks a table only if it is still flagged, under
 * {@code tdp_mmu_pages_lock}, and {@code tdp_mmu_unlink_sp} clears the flag under the same lock.
 */
@ExtendWith(FrayTestExtension.class)
class NxHugePageRaceTest {
    /** An exec fault splits for NX while a read fault fills the table and disabling the log recovers it. */
    @ConcurrencyTest(iterations = 500)
    void execSplitAgainstHugePageRecovery() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of("nx_huge_pages", "on"));
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_2M);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        Lab.parallel(() -> vm.access(0, Access.EXEC, 0, K4, Encoding.CURRENT, 0),
                () -> vm.access(1, Access.READ, K4, K4, Encoding.CURRENT, 0),
                () -> vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT));
        Lab.assertConsistent(vm);
    }

    /**
     * Regression: the interleaving Fray found — the exec fault linked its table, the read fault filled it, the
     * recovery replaced it with a huge leaf (unaccounting a table not yet listed), then the exec fault listed it.
     */
    @ConcurrencyTest(replay = "src/test/resources/recordings/nx-split-vs-huge-page-recovery")
    void execSplitAgainstHugePageRecoveryRecorded() throws Exception {
        execSplitAgainstHugePageRecovery();
    }

    /** Exec faults split while the recovery worker zaps the listed tables. */
    @ConcurrencyTest(iterations = 200)
    void execSplitAgainstNxRecovery() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of("nx_huge_pages", "on", "nx_recovery_ratio", "1"));
        Lab.slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M);
        vm.access(0, Access.EXEC, 0, K4, Encoding.CURRENT, 0);
        Lab.parallel(() -> vm.access(0, Access.EXEC, M2, K4, Encoding.CURRENT, 0),
                () -> vm.recoverNxHugePages());
        Lab.assertConsistent(vm);
    }
}
