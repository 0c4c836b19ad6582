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
        // the vCPU faults outside the zapped range: a fault inside it spins on RET_PF_RETRY while the zap's
        // invalidation is open, and Fray's POS scheduler then never runs the zap again (a livelock of the scheduler,
        // seen once as a CI hang); races on the same pages are ZapRaceTest's
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, 4 * K4, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.READ, 4 * K4, K4, Encoding.CURRENT, 0);
        }, () -> vm.zapGfnRange(0, 2 * K4), () -> {
            Standalone.unbind(lab.manager, lab.defaultBackend);
            Standalone.bind(lab.manager, new DefaultVmBackend(), 100, "2.0");
        });
        Lab.assertConsistent(vm);
    }

    /**
     * Two vCPUs enter the guest while the backend is swapped: a vCPU counts itself into the gate before the
     * compare-and-set of its mutex and looks for the swap after it; one that finds the swap under way lets its mutex
     * and the gate go and waits at the gate as an ioctl does. Every access completes, waits for the resume or is
     * refused; none runs beside the swap.
     */
    @ConcurrencyTest(iterations = 60)
    void vcpusEnterWhileTheBackendIsSwapped() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
        }, () -> vm.access(1, Access.WRITE, 8 * K4, K4, Encoding.CURRENT, 3), () -> {
            Standalone.unbind(lab.manager, lab.defaultBackend);
            Standalone.bind(lab.manager, new DefaultVmBackend(), 100, "2.0");
        });
        Lab.assertConsistent(vm);
    }

    /**
     * One vCPU run by two threads in turn while the backend is swapped: each access finds the records of its own
     * thread in the VM's per-thread structures ({@link org.tdplab.mmu.tdp.vcpu.VcpuThread}) — the gate's hold, read
     * before the vCPU's mutex is taken, and the RCU and lock records, under it — never those of the thread that ran
     * the vCPU last. Fails when the gate's record is taken from the vCPU without asking whose it is (checked: a
     * thread counted into the gate under the other's record, which the other then let go).
     */
    @ConcurrencyTest(iterations = 60)
    void oneVcpuRunByTwoThreadsWhileTheBackendIsSwapped() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
        }, () -> {
            vm.access(0, Access.WRITE, 8 * K4, K4, Encoding.CURRENT, 3);
            vm.access(0, Access.READ, 8 * K4, K4, Encoding.CURRENT, 0);
        }, () -> {
            Standalone.unbind(lab.manager, lab.defaultBackend);
            Standalone.bind(lab.manager, new DefaultVmBackend(), 100, "2.0");
        });
        Lab.assertConsistent(vm);
    }
}
