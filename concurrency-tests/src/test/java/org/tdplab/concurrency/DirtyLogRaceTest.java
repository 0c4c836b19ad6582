package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.core.scheduler.RandomScheduler;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;

/**
 * Dirty logging against faults (invariant 21: a writable leaf in a dirty-logged memslot is marked dirty). The
 * kernel marks the page dirty in {@code make_spte}, under the read lock, and harvests the bitmap with
 * {@code xchg} and write-protects under the write lock, so a GET sees a fault's SPTE and its dirty bit together.
 */
@ExtendWith(FrayTestExtension.class)
class DirtyLogRaceTest {
    /** A write fault on a logged slot while the VMM reads the log: the page is dirty, or the leaf read-only. */
    @ConcurrencyTest(iterations = 300)
    void writeFaultAgainstGetDirtyLog() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 7),
                () -> vm.getDirtyLog(0));
        Lab.assertConsistent(vm);
    }

    /** Regression: the interleaving Fray found (the fault marked the page dirty before the harvest, mapped it after). */
    @ConcurrencyTest(replay = "src/test/resources/recordings/dirty-log-get-vs-write-fault")
    void writeFaultAgainstGetDirtyLogRecorded() throws Exception {
        writeFaultAgainstGetDirtyLog();
    }

    /**
     * A write fault while the VMM enables logging: a fault that saw the slot before the flag changed finishes
     * before write protection runs ({@code synchronize_srcu} in {@code kvm_swap_active_memslots}).
     */
    @ConcurrencyTest(iterations = 300)
    void writeFaultAgainstEnableLogging() throws Exception {
        Lab lab = new Lab();
        Vm vm = lab.vm("default", 1, Map.of());
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_2M);
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 7),
                () -> vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT));
        Lab.assertConsistent(vm);
    }

    /** Regression: the interleaving Fray found (the fault read the flags, enabling protected, the fault mapped W). */
    @ConcurrencyTest(replay = "src/test/resources/recordings/dirty-log-enable-vs-write-fault")
    void writeFaultAgainstEnableLoggingRecorded() throws Exception {
        writeFaultAgainstEnableLogging();
    }

    /**
     * Enabling protects under the read lock ({@code kvm_tdp_mmu_wrprot_slot}), so faults and the CPU's updates of
     * the same 4K table run beside its walk: a page read before (W, D clear) is written, a new one faulted in. Each
     * change of the walk is a CAS from its snapshot, looked at again when it lost; a plain store would put back what
     * it read, over the D bit or the leaf set meanwhile.
     */
    @ConcurrencyTest(iterations = 300)
    void writesAgainstEnableLoggingOn4KPages() throws Exception {
        enableBesideWrites(Map.of());
    }

    /** The same with D-bit logging: enabling clears D on every leaf by CAS, beside the CPU setting it. */
    @ConcurrencyTest(iterations = 300)
    void writesAgainstEnableDirtyBitLoggingOn4KPages() throws Exception {
        enableBesideWrites(Map.of("pml", "on"));
    }

    /**
     * A zap (write lock) while enabling protects two 4K tables under the read lock: the walk yields to the waiting
     * zap between them ({@code tdp_mmu_iter_cond_resched} with {@code shared}), re-walks from the root and goes on;
     * the zapped pages stay unmapped and every page left mapped is protected. Fray's random scheduler, as the lock's
     * own yield tests: the writer spins while it waits.
     */
    @ConcurrencyTest(iterations = 100, scheduler = RandomScheduler.class)
    void zapAgainstEnableLoggingAcrossTwoTables() throws Exception {
        Vm vm = new Lab().vm("default", 1, Map.of());
        Lab.slot(vm, 0, 0, 2 * M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, M2 - 2 * K4, 4 * K4, Encoding.CURRENT, 1);
        Lab.parallel(() -> vm.zapGfnRange(M2 - K4, 2 * K4), () -> vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT));
        Lab.assertConsistent(vm);
        for (long gpa : new long[] { M2 - 2 * K4, M2 + K4 })
            Lab.expect(vm.lookup(gpa, RootKind.DIRECT).map(i -> !i.present() || !i.writable()).orElse(true),
                    "a page left writable after logging started at 0x" + Long.toHexString(gpa));
    }

    private static void enableBesideWrites(Map<String, String> options) throws Exception {
        Vm vm = new Lab().vm("default", 1, options);
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
        vm.access(0, Access.WRITE, K4, K4, Encoding.CURRENT, 1);
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.WRITE, 2 * K4, K4, Encoding.CURRENT, 3);
        }, () -> vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT));
        Lab.assertConsistent(vm);
    }

    /**
     * With D-bit logging (a page-modification log) GET reports the pages whose D bit it harvested and clears D on
     * those alone ({@code kvm_tdp_mmu_clear_dirty_pt_masked}); a page the vCPU dirties after the harvest keeps D
     * until the next GET. Clearing it too lost that write from the log, with no flush to drop the vCPU's writable
     * TLB entry (invariant 21; found by the 2,000-seed campaign, seeds 10539, 10869 and 11485).
     */
    @ConcurrencyTest(iterations = 200)
    void writesAgainstDirtyBitLogGet() throws Exception {
        Vm vm = harvestedDirtyBitLog(2);
        Lab.parallel(() -> {
            vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2);
            vm.access(0, Access.WRITE, K4, K4, Encoding.CURRENT, 3);
        }, () -> vm.getDirtyLog(0));
        Lab.assertConsistent(vm);
    }

    /**
     * A write to a clean page of a D-bit-logged slot while the host ages it: the CPU sets D with a locked update of
     * the entry as it is, whatever else changed in it (here aging's cleared A). The walk's update that gave up when
     * its compare-and-swap lost to aging left the TLB writable over a clean leaf, with no flush to come (invariant 21;
     * {@code mvn verify}'s RandomizedConcurrencyTest, seed 12077085293922).
     */
    @ConcurrencyTest(iterations = 300)
    void writeAgainstAgingOnADirtyBitLoggedPage() throws Exception {
        Vm vm = harvestedDirtyBitLog(1); // D clear, A set, the leaf still writable; the TLB flushed
        Lab.parallel(() -> vm.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 2), () -> vm.age(0, K4));
        Lab.assertConsistent(vm);
    }

    /** A VM with a D-bit-logged 4K slot whose first {@code pages} pages were written, then harvested by a GET. */
    private static Vm harvestedDirtyBitLog(int pages) throws Exception {
        Vm vm = new Lab().vm("default", 1, Map.of("pml", "on"));
        Lab.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        vm.access(0, Access.WRITE, 0, pages * K4, Encoding.CURRENT, 1);
        vm.getDirtyLog(0);
        return vm;
    }

    /** Regression: the interleaving Fray found (the walk read the clean leaf, aging cleared A, the walk's CAS lost). */
    @ConcurrencyTest(replay = "src/test/resources/recordings/dirty-bit-write-vs-aging")
    void writeAgainstAgingOnADirtyBitLoggedPageRecorded() throws Exception {
        writeAgainstAgingOnADirtyBitLoggedPage();
    }

    /** Regression: the interleaving Fray found (GET harvested, the vCPU wrote both pages, GET cleared their D bits). */
    @ConcurrencyTest(replay = "src/test/resources/recordings/dirty-bit-get-vs-write")
    void writesAgainstDirtyBitLogGetRecorded() throws Exception {
        writesAgainstDirtyBitLogGet();
    }
}
