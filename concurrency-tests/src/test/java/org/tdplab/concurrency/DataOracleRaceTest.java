package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;

/**
 * The data oracle against its own race: a guest write stores the frame and then tells the oracle, so a read of the
 * page on another vCPU in between returns a token the oracle does not know yet (or, read the other way round, one it
 * has already replaced). Such a read returned what the page held; it must not be reported. Before the oracle counted
 * the writes of each leaf, this was reported as "guest read … returned X, last written Y".
 */
@ExtendWith(FrayTestExtension.class)
class DataOracleRaceTest {
    @ConcurrencyTest(iterations = 300)
    void readsRacingWritesOfThePageOnAnotherVcpu() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 1); // mapped: both vCPUs hit in their TLBs or walk
        vm.access(1, Access.READ, 0, K4, Encoding.CURRENT, 0);
        Lab.parallel(() -> {
            for (long token = 2; token <= 4; token++)
                vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, token);
        }, () -> {
            for (int i = 0; i < 3; i++)
                vm.access(1, Access.READ, 0, K4, Encoding.CURRENT, 0);
        });
        Lab.assertConsistent(vm);
    }
    /**
     * Two vCPUs write the same page at once, then one reads it: the frame and the oracle must name the same write.
     * Before a guest write owned its leaf of the oracle from its frame to its token, one write's frame could land
     * between the other's frame and token, and the read was reported as "returned 3, last written 2".
     */
    @ConcurrencyTest(iterations = 300)
    void writesOfThePageOnTwoVcpusAtOnce() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 1);
        vm.access(1, Access.READ, 0, K4, Encoding.CURRENT, 0);
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2),
                () -> vm.access(1, Access.WRITE, 0, K4, Encoding.CURRENT, 3));
        vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
        Lab.assertConsistent(vm);
    }
}
