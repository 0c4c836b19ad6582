package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * Private/shared conversions against faults: {@code KVM_SET_MEMORY_ATTRIBUTES} and a guest_memfd hole punch
 * (zap of the range inside an invalidation window, then the attribute or backing changes) while vCPUs fault on
 * other pages; and a TD's conversions while another vCPU accepts, with the module finding its locks busy half
 * the time ({@code TDX_OPERAND_BUSY}, retried by KVM).
 */
@ExtendWith(FrayTestExtension.class)
class ConversionRaceTest {
    @ConcurrencyTest(iterations = 60)
    void attributeFlipAgainstAccesses() throws Exception {
        Vm vm = swProtectedWithPrivatePages(2);
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2),
                () -> vm.access(1, Access.WRITE, 2 * K4, K4, Encoding.CURRENT, 3),
                () -> {
                    vm.setMemoryAttributes(K4, K4, false);
                    vm.setMemoryAttributes(2 * K4, K4, true);
                });
        Lab.assertConsistent(vm);
    }

    @ConcurrencyTest(iterations = 60)
    void punchHoleAgainstFaults() throws Exception {
        Vm vm = swProtectedWithPrivatePages(4);
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2),
                () -> vm.access(1, Access.READ, 3 * K4, K4, Encoding.CURRENT, 0),
                () -> vm.punchHole(K4, 2 * K4));
        Lab.assertConsistent(vm);
    }

    /**
     * An SNP launch that failed (its first page shared: EIO, nothing done) left its 2M folio allocated and not
     * prepared; a vCPU's first 4K PVALIDATE of another page of it prepares the folio late (one 2M RMP page), meets the
     * RMP fault of a 4K validation inside a 2M page and PSMASHes it, while a punch frees the folio. Fray found the
     * PSMASH landing between the invalidation's look at the entry (2M) and its 2M RMPUPDATE to shared, which then met
     * split entries (iterations 18 and 37 of 60): the RMP-fault handler now holds off invalidations. The late
     * preparation's own race with the punch (a 2M page made private over freed frames: {@code soak --type snp
     * --threads 4}, seed 5124) Fray's random schedules did not reach in 1000 iterations; {@code GmemHooksTest} holds
     * the preparation at the lock while the invalidation runs.
     */
    @ConcurrencyTest(iterations = 60)
    void latePreparationAgainstPunch() throws Exception {
        Vm vm = snpWithAnUnpreparedFolio(2);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        Lab.parallel(() -> vm.accept(0, 4 * K4, K4, PageSize.SIZE_4K), () -> vm.punchHole(0, M2));
        Lab.assertConsistent(vm);
    }

    /** A sw_protected VM with a guest_memfd memslot whose first {@code pages} pages are private and written. */
    private static Vm swProtectedWithPrivatePages(int pages) {
        Vm vm = new Lab().vm("sw_protected", 2, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, pages * K4, true);
        vm.access(0, Access.WRITE, 0, pages * K4, Encoding.CURRENT, 1);
        return vm;
    }

    @ConcurrencyTest(iterations = 60)
    void tdAcceptAgainstConvert() throws Exception {
        Vm vm = launched("tdx", 2, PageSize.SIZE_4K, Map.of("busy_rate", "0.5", "seed", "7"));
        vm.accept(0, 0, 2 * K4, PageSize.SIZE_4K);
        Lab.parallel(() -> {
            vm.accept(0, 4 * K4, 2 * K4, PageSize.SIZE_4K);
            vm.access(0, Access.WRITE, 4 * K4, 2 * K4, Encoding.PRIVATE, 5);
        }, () -> {
            vm.convert(1, false, 0, 2 * K4);
            vm.access(1, Access.WRITE, 0, K4, Encoding.SHARED, 6);
        });
        Lab.assertConsistent(vm);
    }

    /**
     * Two vCPUs of a TD accept the same pages at once; one writes them as soon as its accepts are done. The module runs
     * AUG and ACCEPT with its tree lock shared, so the two ACCEPTs of one page (and the AUG KVM runs for one of them)
     * meet only on the entry's lock. It found that the data oracle heard of an ACCEPT's zeroing only after the TDCALL
     * returned: the other vCPU could find the page accepted and write it in between, and the late zeroing then made
     * the oracle expect 0 where the page held the write (the oracle now hears of it before the page is MAPPED). An
     * ACCEPT that took no entry lock at all Fray did not catch (checked): the window between its read of the entry and
     * its zeroing has no lock or atomic operation for Fray to switch threads at; {@code EntryLockTest} holds a thread
     * there instead.
     */
    @ConcurrencyTest(iterations = 150)
    void tdTwoVcpusAcceptTheSamePages() throws Exception {
        Vm vm = launched("tdx", 2, PageSize.SIZE_4K, Map.of());
        vm.accept(0, 8 * K4, K4, PageSize.SIZE_4K); // both vCPUs' tables are there: the race is the leaves'
        Lab.parallel(() -> {
            completed(vm.accept(0, 0, 2 * K4, PageSize.SIZE_4K));
            vm.access(0, Access.WRITE, 0, 2 * K4, Encoding.PRIVATE, 5);
        }, () -> completed(vm.accept(1, 0, 2 * K4, PageSize.SIZE_4K)));
        vm.access(0, Access.READ, 0, 2 * K4, Encoding.PRIVATE, 0);
        Lab.assertConsistent(vm);
    }

    private static void completed(AccessResult r) {
        if (!r.completed())
            throw new AssertionError("the accept ended " + r);
    }

    /**
     * A TD's vCPU reads private pages another vCPU accepted — its walks of the S-EPT take no module lock once it is
     * inside the TD — while that vCPU converts them to shared (BLOCK, TRACK and the kick, REMOVE, then the private
     * backing discarded) and accepts other pages, which get the freed frames back. A translation that outlived the
     * kick reads a frame that is no longer the page's: the data oracle sees it (checked: with a kick that does not wait
     * for vCPUs in guest mode this fails within a few interleavings).
     */
    @ConcurrencyTest(iterations = 60)
    void tdUnlockedWalksAgainstConvertToShared() throws Exception {
        Vm vm = launched("tdx", 2, PageSize.SIZE_4K, Map.of());
        vm.accept(1, 0, 5 * K4, PageSize.SIZE_4K);
        vm.access(1, Access.WRITE, 0, 5 * K4, Encoding.PRIVATE, 5);
        vm.access(0, Access.READ, 4 * K4, K4, Encoding.PRIVATE, 0); // vCPU 0 enters the TD
        Lab.parallel(() -> vm.access(0, Access.READ, 0, 4 * K4, Encoding.PRIVATE, 0), () -> {
            vm.convert(1, false, 0, 4 * K4); // discards the private pages: their frames go back to the host
            vm.accept(1, 8 * K4, 4 * K4, PageSize.SIZE_4K); // and come back as these (vCPU 1's block)
            vm.access(1, Access.WRITE, 8 * K4, 4 * K4, Encoding.PRIVATE, 7);
        });
        Lab.assertConsistent(vm);
    }

    /**
     * A vCPU's conversion (the KVM_HC_MAP_GPA_RANGE exit, whose attribute change takes slots_lock) against
     * {@code KVM_TDX_INIT_MEM_REGION} (slots_lock, then the vCPU it populates through). Before the exit dropped the
     * vCPU mutex the two took the locks in opposite orders and deadlocked (found by {@code soak --type tdx}).
     */
    @ConcurrencyTest(iterations = 60)
    void tdConvertAgainstInitMemRegion() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("tdx", 1, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        Lab.parallel(() -> vm.convert(0, false, 8 * K4, K4),
                () -> vm.invoke("init_mem_region", new VerbArgs("init_mem_region",
                        Map.of("gpa", 0L, "size", 2 * K4), Set.of())));
        Lab.assertConsistent(vm);
    }
    /**
     * An SNP guest's 4K rescind inside a 2M RMP page (an RMP fault KVM resolves with PSMASH, {@code
     * sev_handle_rmp_fault}) against a hole punch of another 4K page of the same 2M folio, whose invalidation
     * PSMASHes the same entry ({@code sev_gmem_invalidate}); nothing orders the two (found by {@code soak --type
     * snp}, seeds 20261269 and 20267804).
     */
    @ConcurrencyTest(iterations = 60)
    void snpRescindAgainstPunchInOneHugeFolio() throws Exception {
        Vm vm = launched("snp", 1, PageSize.SIZE_2M, Map.of());
        vm.accept(0, 0, M2, PageSize.SIZE_2M);
        Lab.parallel(() -> vm.convert(0, false, 5 * K4, K4), () -> vm.punchHole(9 * K4, K4));
        Lab.assertConsistent(vm);
    }

    /**
     * Regression: the interleaving Fray found — the rescind's RMP fault PSMASHed the 2M entry after the punch's
     * invalidation had read its level, so the invalidation's own PSMASH failed on an entry already split.
     */
    @ConcurrencyTest(replay = "src/test/resources/recordings/snp-rmp-fault-vs-punch-psmash")
    void snpRescindAgainstPunchInOneHugeFolioRecorded() throws Exception {
        snpRescindAgainstPunchInOneHugeFolio();
    }

    /**
     * An SNP launch page against a vCPU's first fault on another page of the same 2M folio, which a failed launch
     * left allocated and unprepared: the fault would prepare the folio late, as one 2M RMP page while its range reads
     * hypervisor-owned, so it must not run between the launch page's check and its 4K RMPUPDATE ({@code soak --type
     * snp}, seed 11098: the 2M update overlapped the launched page). The vCPU runs before launch finish, so its entry
     * fails ({@code KVM_EXIT_FAIL_ENTRY}: the VMSA is not yet a guest page) and it prepares nothing, as the kernel's
     * vCPU cannot fault during the launch either; the launch page then always goes in. Whichever goes first, the
     * accept fails its entry whole.
     */
    @ConcurrencyTest(iterations = 60)
    void snpLaunchUpdateAgainstLatePreparation() throws Exception {
        Vm vm = snpWithAnUnpreparedFolio(1);
        Lab.parallel(() -> launchUpdate(vm, 2 * K4), () -> {
            AccessResult r = vm.accept(0, 5 * K4, K4, PageSize.SIZE_4K);
            Lab.expect(r.pages() == 0 && r.exit() != null && r.exit().reason() == Exit.Reason.FAIL_ENTRY,
                    "the accept before launch finish ended " + r);
        });
        Lab.assertConsistent(vm);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        completed(vm.accept(0, 5 * K4, K4, PageSize.SIZE_4K)); // the late preparation, after the launch
        Lab.assertConsistent(vm);
    }

    /** Regression: the interleaving Fray found before the fix — the late 2M preparation inside the launch page's. */
    @ConcurrencyTest(replay = "src/test/resources/recordings/snp-launch-update-vs-late-preparation")
    void snpLaunchUpdateAgainstLatePreparationRecorded() throws Exception {
        snpLaunchUpdateAgainstLatePreparation();
    }

    /**
     * An SNP VM whose 2M guest_memfd folio at GPA 0 a failed launch left allocated and unprepared: the launch of gpa 0,
     * which is shared, ends in EIO with nothing done; the rest of the folio is private.
     */
    private static Vm snpWithAnUnpreparedFolio(int vcpus) {
        Vm vm = new Lab().vm("snp", vcpus, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.setMemoryAttributes(K4, M2 - K4, true);
        try {
            launchUpdate(vm, 0);
        } catch (MmuException e) {
            // EIO: gpa 0 is shared; the folio stays allocated, unprepared
        }
        return vm;
    }

    private static void launchUpdate(Vm vm, long gpa) {
        vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", gpa, "size", K4), Set.of()));
    }

    /**
     * An SNP guest converts a private page to shared (its PVALIDATE(0) rescinds it) while the VMM makes the page
     * shared by attribute and another vCPU maps it shared: the rescind's encrypted access then meets a
     * hypervisor-owned RMP entry, and KVM's fault must run first (a private access to a shared GPA exits to
     * userspace) instead of the RMP handler warning and the guest spinning ({@code soak --type snp}, seed 15800).
     */
    @ConcurrencyTest(iterations = 100) // before the fix: found at iterations 20 to 35 in four runs
    void snpRescindAgainstTheVmmMakingThePageShared() throws Exception {
        Vm vm = launched("snp", 2, PageSize.SIZE_4K, Map.of());
        vm.accept(0, 0, 4 * K4, PageSize.SIZE_4K);
        Lab.parallel(() -> vm.convert(0, false, K4, 2 * K4), () -> {
            vm.setMemoryAttributes(2 * K4, K4, false);
            vm.access(1, Access.READ, 2 * K4, K4, Encoding.SHARED, 0);
        });
        Lab.assertConsistent(vm);
    }

    /** Regression: the interleaving Fray found before the fix — the VMM's change between rescind and RMP fault. */
    @ConcurrencyTest(replay = "src/test/resources/recordings/snp-rescind-vs-vmm-sharing")
    void snpRescindAgainstTheVmmMakingThePageSharedRecorded() throws Exception {
        snpRescindAgainstTheVmmMakingThePageShared();
    }

    /** A confidential VM with one 2M guest_memfd memslot at GPA 0, all private, launched (a TD: finalized). */
    private static Vm launched(String type, int vcpus, PageSize backing, Map<String, String> options) {
        Vm vm = new Lab().vm(type, vcpus, options);
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), backing);
        vm.setMemoryAttributes(0, M2, true);
        String verb = type.equals("tdx") ? "finalize" : "launch_finish";
        vm.invoke(verb, VerbArgs.none(verb));
        return vm;
    }
}
