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
 * The vCPU's paging-structure cache against a table leaving the root: huge-page recovery (dirty logging stopped)
 * replaces the 4K table a vCPU's walks cached with a 2M leaf and flushes; the vCPU walking the region meanwhile goes
 * through the cached table until the flush reaches it, and not after (the checker reports a current vCPU that
 * still caches a table its root no longer links; the data oracle a read that reached another frame).
 */
@ExtendWith(FrayTestExtension.class)
class CachedTableRaceTest {
    @ConcurrencyTest(iterations = 100)
    void walksThroughACachedTableAgainstHugePageRecovery() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_2M);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 0x11); // a 4K table, cached by vCPU 0's walk
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, K4, K4, Encoding.CURRENT, 0x22);
            vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
        }, () -> vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT));
        vm.access(0, Access.READ, 2 * K4, K4, Encoding.CURRENT, 0); // in guest mode again: any flush applied
        vm.access(1, Access.READ, 3 * K4, K4, Encoding.CURRENT, 0);
        Lab.assertConsistent(vm);
    }
}
