package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.MmuObserver;
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
 * iteration 7 and 31 of two runs). The RMP's check now confirms what it finds with every region lock held. Its R9
 * then reported a frame a fault's preparation had just made private while guest_memfd had not yet published the folio
 * (in the file, locked): "pfn 0x4 is assigned to ASID 1 at gpa 0x0, whose guest_memfd page is absent" (once, at
 * iteration 21 of a {@code mvn verify}); R9 now judges such a folio once it is published. A hole punch has the
 * mirror window: the folio leaves the file before {@code sev_gmem_invalidate} gives its frames back (both under the
 * truncation's folio lock); R9 waits for guest_memfd to let such a page go too ({@code MmuView.gmemLocked}).
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

    /**
     * The check beside a fault whose thread is preempted right after its preparation's RMPUPDATE, before
     * guest_memfd publishes the folio it prepared (which it holds locked in the file meanwhile).
     */
    @ConcurrencyTest(iterations = 20)
    void snpCheckBesidePreparation() throws Exception {
        Lab lab = new Lab();
        AtomicBoolean armed = new AtomicBoolean(), prepared = new AtomicBoolean();
        lab.manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                if (armed.get() && name.equals("RMPUPDATE") && !prepared.getAndSet(true))
                    for (int i = 0; i < PREEMPTED; i++)
                        Thread.yield();
            }
        });
        Vm vm = lab.vm("snp", 1, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        armed.set(true);
        Lab.parallel(() -> vm.accept(0, 0, K4, PageSize.SIZE_4K), () -> {
            while (!prepared.get())
                Thread.yield();
            Lab.assertConsistent(vm);
        });
        Lab.assertConsistent(vm);
    }

    /** Steps the preparing thread spends preempted: many more than the check takes. */
    private static final int PREEMPTED = 5000;

    /** Regression: the schedule Fray found for {@link #snpCheckBesidePreparation} before the fix (its first). */
    @ConcurrencyTest(replay = "src/test/resources/recordings/snp-check-vs-preparation")
    void snpCheckBesidePreparationRecorded() throws Exception {
        snpCheckBesidePreparation();
    }

    /**
     * The check beside a hole punch whose thread is preempted right after the first of its invalidation's RMPUPDATEs
     * (to shared), once guest_memfd has taken the folio out of the file: the folio is 2M at a GPA not 2M-aligned, so
     * its frames are 512 4K RMP pages and 511 of them are still assigned at GPAs whose guest_memfd page reads absent.
     */
    @ConcurrencyTest(iterations = 20)
    void snpCheckBesidePunch() throws Exception {
        Lab lab = new Lab();
        AtomicBoolean armed = new AtomicBoolean(), invalidating = new AtomicBoolean();
        lab.manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                if (armed.get() && name.equals("RMPUPDATE") && !invalidating.getAndSet(true))
                    for (int i = 0; i < PREEMPTED; i++)
                        Thread.yield();
            }
        });
        Vm vm = lab.vm("snp", 1, Map.of());
        vm.addMemslot(0, K4, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(K4, M2, true);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        vm.accept(0, K4, K4, PageSize.SIZE_4K); // the 2M folio, prepared as 512 4K RMP pages (GFN and PFN unaligned)
        armed.set(true);
        Lab.parallel(() -> vm.punchHole(K4, M2), () -> {
            while (!invalidating.get())
                Thread.yield();
            Lab.assertConsistent(vm);
        });
        Lab.assertConsistent(vm);
    }

    /** Regression: the schedule Fray found for {@link #snpCheckBesidePunch} with R9 not waiting (its 8th). */
    @ConcurrencyTest(replay = "src/test/resources/recordings/snp-check-vs-punch")
    void snpCheckBesidePunchRecorded() throws Exception {
        snpCheckBesidePunch();
    }

    /**
     * A TD's check beside its guest: one vCPU accepts new pages (an exit, KVM's AUG under the MMU read lock, the
     * ACCEPT again) while another accepts pages it has already (the module's lock held shared, no MMU lock). The
     * mirror check holds the module's lock exclusively over its whole walk of the mirror (its S-EPT look-ups nest in
     * that hold) while it holds the MMU write lock: the order every hook takes them in, so neither vCPU deadlocks
     * against it, and it sees the S-EPT between the guest's calls.
     */
    @ConcurrencyTest(iterations = 20)
    void tdxAcceptWhileChecking() throws Exception {
        Vm vm = new Lab().vm("tdx", 2, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        vm.accept(0, 0, 2 * K4, PageSize.SIZE_4K);
        Lab.parallel(() -> vm.accept(0, 2 * K4, 2 * K4, PageSize.SIZE_4K),
                () -> vm.accept(1, 0, 2 * K4, PageSize.SIZE_4K), () -> {
                    Lab.assertConsistent(vm);
                    Lab.assertConsistent(vm);
                });
        Lab.assertConsistent(vm);
    }
}
