package org.tdplab.concurrency;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;

/**
 * Aging ({@code kvm_age_gfn}, {@code kvm_test_age_gfn}: the accessed bit cleared under the read lock, or the leaf
 * made access-tracked without A/D bits) and memslot changes (invalidate, zap, install) against faults on two
 * vCPUs that touch disjoint pages, so the data oracle is exact.
 */
@ExtendWith(FrayTestExtension.class)
class AgingAndMemslotRaceTest {
    @ConcurrencyTest(iterations = 60)
    void faultsAgainstAging() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, 2 * K4, Encoding.CURRENT, 1);
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.READ, 2 * K4, K4, Encoding.CURRENT, 0);
        }, () -> {
            vm.access(1, Access.WRITE, K4, K4, Encoding.CURRENT, 3);
            vm.access(1, Access.WRITE, 3 * K4, K4, Encoding.CURRENT, 4);
        }, () -> {
            vm.age(0, 4 * K4);
            vm.testAge(0, 4 * K4);
        });
        Lab.assertConsistent(vm);
    }

    /**
     * Without A/D bits aging makes leaves access-tracked, which the fast page fault restores lock-free with a CAS
     * ({@code fast_page_fault} → {@code restore_acc_track_spte}) while aging runs again.
     */
    @ConcurrencyTest(iterations = 60)
    void fastPageFaultAgainstAccessTrackingAging() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 2, Map.of("ad", "off"));
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, 2 * K4, Encoding.CURRENT, 1);
        vm.age(0, 2 * K4);
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2),
                () -> vm.access(1, Access.READ, K4, K4, Encoding.CURRENT, 0),
                () -> vm.age(0, 2 * K4));
        Lab.assertConsistent(vm);
    }

    /** A memslot moves while vCPUs fault in it and in another slot, and the VMM prefaults the moving one. */
    @ConcurrencyTest(iterations = 60)
    void faultsAgainstMemslotMove() throws Exception {
        Vm vm = twoSlotsOnePageWritten();
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2),
                () -> prefaultOrRetryLater(vm, 1, M2 + K4),
                () -> vm.moveMemslot(1, 4 * M2));
        Lab.assertConsistent(vm);
    }

    /** A default VM with two 2M memslots and the first page of the second one written. */
    private static Vm twoSlotsOnePageWritten() {
        Vm vm = new Lab().vm("default", 2, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        Lab.slot(vm, 1, M2, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, M2, K4, Encoding.CURRENT, 1);
        return vm;
    }

    /**
     * {@code KVM_PRE_FAULT_MEMORY} into a memslot being moved returns {@code EAGAIN} (6.18) rather than spinning
     * until the move ends; before the move it maps, after it finds no memslot ({@code ENOENT}).
     */
    private static void prefaultOrRetryLater(Vm vm, int vcpu, long gpa) {
        try {
            vm.prefault(vcpu, gpa, K4);
        } catch (MmuException e) {
            assertTrue(e.errno() == Errno.EAGAIN || e.errno() == Errno.ENOENT, e::getMessage);
        }
    }
}
