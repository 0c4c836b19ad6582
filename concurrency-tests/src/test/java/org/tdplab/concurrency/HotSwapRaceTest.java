package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * A backend hot-swap (the service unbound: its VMs suspended at a safe point; another of the type bound: they
 * resume) while a vCPU faults and the VMM zaps. Every operation either runs before the suspension, waits for the
 * resume, or is refused with an errno; the tables and the data survive.
 */
@ExtendWith(FrayTestExtension.class)
class HotSwapRaceTest {
    @ConcurrencyTest(iterations = 60)
    void swapAgainstFaultsAndZap() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 1);
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, K4, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
        }, () -> vm.zapGfnRange(0, 2 * K4), () -> {
            Standalone.unbind(lab.manager, lab.defaultBackend);
            Standalone.bind(lab.manager, new DefaultVmBackend(), 100, "2.0");
        });
        Lab.assertConsistent(vm);
    }
}
