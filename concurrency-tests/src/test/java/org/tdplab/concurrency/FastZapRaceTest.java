package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.pastalab.fray.core.scheduler.RandomScheduler;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;

/**
 * {@code kvm_mmu_zap_all_fast} (a memslot deleted on a VM with the zap-all quirk) against vCPUs that fault, drop
 * the obsolete root and load a new one (invariant 15: an invalidated direct root maps nothing once zapped).
 */
@ExtendWith(FrayTestExtension.class)
class FastZapRaceTest {
    @ConcurrencyTest(iterations = 60)
    void fastZapAgainstFaultsAndRootReload() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of("slot_zap_all", "on"));
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        Lab.slot(vm, 1, M2, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 1);
        Lab.parallel(() -> {
            vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
            vm.access(0, Access.WRITE, K4, K4, Encoding.CURRENT, 2);
        }, () -> {
            vm.access(1, Access.WRITE, 2 * K4, K4, Encoding.CURRENT, 3);
            vm.access(1, Access.READ, 0, K4, Encoding.CURRENT, 0);
        }, () -> {
            vm.deleteMemslot(1);
            vm.addMemslot(1, M2, M2, Set.of(), PageSize.SIZE_4K);
        });
        Lab.assertConsistent(vm);
    }

    /**
     * The fast zap's root zap (read lock) against a zap of the other slot (write lock), over pages in two 4K tables:
     * the root zap yields to the waiting writer ({@code tdp_mmu_iter_cond_resched} with {@code shared}) and goes on
     * where it was; the old root ends empty, the writer's range unmapped. Fray's random scheduler: the writer spins
     * while it waits.
     */
    @ConcurrencyTest(iterations = 100, scheduler = RandomScheduler.class)
    void fastZapYieldsToAZapOfAnotherSlot() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of("slot_zap_all", "on"));
        Lab.slot(vm, 0, 0, 2 * M2, PageSize.SIZE_4K);
        Lab.slot(vm, 1, 2 * M2, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, M2 - 2 * K4, 4 * K4, Encoding.CURRENT, 1);
        vm.access(0, Access.WRITE, 2 * M2, 2 * K4, Encoding.CURRENT, 2);
        Lab.parallel(() -> vm.zapGfnRange(M2 - K4, 2 * K4), () -> vm.deleteMemslot(1));
        Lab.assertConsistent(vm);
        for (long gpa : new long[] { M2 - K4, M2, 2 * M2 })
            Lab.expect(vm.lookup(gpa, RootKind.DIRECT).map(i -> !i.present()).orElse(true),
                    "0x" + Long.toHexString(gpa) + " still mapped");
    }
}
