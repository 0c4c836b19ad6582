package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;

/**
 * {@code KVM_BUG_ON} raised by one vCPU's fault under the read lock while another vCPU's fault installs a leaf:
 * nothing orders the two, in the kernel either, so invariant 24 holds for installs that began after the bug (found
 * by {@code soak --type tdx}, seed 20261591). Before that relaxation this test failed at iteration 132 of 400; its
 * recording did not replay in a fresh JVM (likely because the 131 iterations before it had moved thread ids and the
 * RCU reader slots with them, so the schedule diverged), so no {@code …Recorded} test goes with it.
 */
@ExtendWith(FrayTestExtension.class)
class BugRaceTest {
    @ConcurrencyTest(iterations = 200)
    void bugRaisedByOneFaultAgainstAnotherInstall() throws Exception {
        Vm vm = new Lab().vm("tdx", 2, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, K4, true);
        // a private fault before the TD is finalized: KVM_BUG_ON(!kvm_tdx->page_add_src) kills the VM
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.PRIVATE, 1),
                () -> vm.access(1, Access.WRITE, 4 * K4, K4, Encoding.SHARED, 2));
        Lab.assertConsistent(vm);
    }
}
