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
 * {@code kvm_zap_gfn_range}, which yields the write lock, against huge-page recovery when dirty logging stops
 * (read lock). Invariant 16: no leaf of the zapped range survives the zap.
 */
@ExtendWith(FrayTestExtension.class)
class ZapRaceTest {
    /** A zap over the end of one 2M region and half the next while disabling the log recovers huge pages. */
    @ConcurrencyTest(iterations = 60)
    void zapAgainstHugePageRecovery() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of());
        Lab.slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        for (long gfn : new long[] { 0x1fe, 0x1ff, 0x200, 0x201, 0x2ff, 0x300 })
            vm.access(0, Access.WRITE, gfn * K4, K4, Encoding.CURRENT, gfn);
        Lab.parallel(() -> vm.zapGfnRange(0x1ff * K4, 0x101 * K4),
                () -> vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT));
        Lab.assertConsistent(vm);
    }

    /**
     * Regression: the interleaving Fray found — the zap yielded inside the second region after zapping its first
     * pages; the recovery made a 2M leaf from a page the zap had not reached, mapping the GFNs it had zapped.
     */
    @ConcurrencyTest(replay = "src/test/resources/recordings/zap-vs-huge-page-recovery")
    void zapAgainstHugePageRecoveryRecorded() throws Exception {
        zapAgainstHugePageRecovery();
    }
}
