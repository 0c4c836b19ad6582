package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * {@code check VM} while the VM works, not only with its threads joined: the check holds the MMU write lock, so every
 * finding must hold at any moment no fault or range operation is half done. The SNP backend's RMP check read the
 * host-wide table without the region locks, while a vCPU's fault prepared guest_memfd pages (RMPUPDATE, which runs
 * without the MMU lock, as in the kernel) and the guest validated them: it reported the instruction it saw half done
 * as a broken table ("R8: the table changed outside RMPUPDATE…", "ASID 1 owns 1 frames, the count says 2"; Fray, at
 * iteration 7 and 31 of two runs). The RMP's check now confirms what it finds with every region lock held.
 */
@ExtendWith(FrayTestExtension.class)
class MidFlightCheckTest {
    /** A launched SNP guest accepting four 4K pages (fault, RMPUPDATE, PVALIDATE each) while it is checked twice. */
    @ConcurrencyTest(iterations = 30)
    void snpAcceptWhileChecking() throws Exception {
        Vm vm = new Lab().vm("snp", 1, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        Lab.parallel(() -> vm.accept(0, 0, 4 * K4, PageSize.SIZE_4K), () -> {
            Lab.assertConsistent(vm);
            Lab.assertConsistent(vm);
        });
        Lab.assertConsistent(vm);
    }

    /**
     * Regression: the interleaving Fray found — the check's scan read the entry an RMPUPDATE had just written, and
     * the region's count and digest from before it.
     */
    @ConcurrencyTest(replay = "src/test/resources/recordings/snp-check-vs-accept")
    void snpAcceptWhileCheckingRecorded() throws Exception {
        snpAcceptWhileChecking();
    }
}
