package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VmCapabilities;

/** The NX huge page mitigation: exec faults split, {@code nx_lpage_splits}, and the recovery worker. */
class NxHugePagesTest {
    private static AccessResult access(Vm vm, Access a, long gpa, long size) {
        return vm.access(0, a, gpa, size, Encoding.CURRENT, 0);
    }

    private static VmCapabilities nx(int ratio) {
        return TestVms.ordinary().withNxHugePages(true, ratio);
    }

    @Test
    void anExecFaultSplitsAHugePageWithoutAFlush() {
        CoreVm vm = TestVms.create(nx(1), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        assertTrue(access(vm, Access.READ, G1, M2).completed());
        assertEquals(1, vm.stats().get("pages_2m"));
        assertEquals(0, vm.stats().get("nx_lpage_splits"));
        assertTrue(access(vm, Access.EXEC, G1 + 0x3000, 0x1000).completed());
        assertEquals(0, vm.stats().get("pages_2m"));
        assertEquals(512, vm.stats().get("pages_4k"));
        assertEquals(1, vm.stats().get("nx_lpage_splits"));
        assertEquals(0, vm.stats().get("remote_tlb_flush"));
        assertEquals(1, vm.mmu.nx.possible());
        // the pieces are executable: other exec accesses in the region do not fault
        long taken = vm.stats().get("pf_taken");
        assertTrue(access(vm, Access.EXEC, G1, M2).completed());
        assertEquals(taken, vm.stats().get("pf_taken"));
        assertClean(vm);
    }

    @Test
    void everyTableAnExecFaultMakesIsFlaggedButOnlyThoseItCouldHaveMappedHugeAreListed() {
        CoreVm vm = TestVms.create(nx(1).withSlotZapAll(false), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_2M);
        assertTrue(access(vm, Access.EXEC, G1, 0x1000).completed()); // req_level 2M: the 1G-level table is not listed
        assertEquals(1, vm.stats().get("nx_lpage_splits"));
        assertEquals(1, vm.mmu.nx.possible());
        vm.deleteMemslot(0); // without the quirk only the slot's leaves go: the tables stay
        slot(vm, 1, G1, 1L << 30, PageSize.SIZE_1G);
        assertTrue(access(vm, Access.READ, G1 + 2 * M2, 0x1000).completed());
        assertEquals(PageSize.SIZE_2M.level(), vm.lookup(G1 + 2 * M2, RootKind.DIRECT).orElseThrow().level(),
                "disallowed_hugepage_adjust steps down at the flagged 1G-level table");
        assertClean(vm);
    }

    @Test
    void aReadNextToAnNxSplitStays4K() {
        CoreVm vm = TestVms.create(nx(1), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        access(vm, Access.EXEC, G1, 0x1000);
        assertEquals(1, vm.stats().get("nx_lpage_splits"));
        assertEquals(1, vm.stats().get("pages_4k"));
        access(vm, Access.WRITE, G1 + 0x1000, 0x1000);
        assertEquals(PageSize.SIZE_4K.level(), vm.lookup(G1 + 0x1000, RootKind.DIRECT).orElseThrow().level());
        assertEquals(2, vm.stats().get("pages_4k"));
        assertEquals(0, vm.stats().get("pages_2m"));
        assertClean(vm);
    }

    @Test
    void recoveryZapsTheShareTheRatioSaysOldestFirst() {
        CoreVm vm = TestVms.create(nx(2), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        for (int i = 0; i < 3; i++)
            access(vm, Access.EXEC, G1 + i * M2, 0x1000);
        assertEquals(3, vm.stats().get("nx_lpage_splits"));
        assertEquals(2, vm.recoverNxHugePages());
        assertEquals(1, vm.stats().get("nx_lpage_splits"));
        assertEquals(1, vm.stats().get("remote_tlb_flush"), "one flush for the batch");
        assertFalse(vm.lookup(G1, RootKind.DIRECT).map(i -> i.present()).orElse(false));
        assertFalse(vm.lookup(G1 + M2, RootKind.DIRECT).map(i -> i.present()).orElse(false));
        assertTrue(vm.lookup(G1 + 2 * M2, RootKind.DIRECT).orElseThrow().present());
        assertClean(vm);
        access(vm, Access.READ, G1, M2);
        assertEquals(1, vm.stats().get("pages_2m"), "a read after recovery maps 2M again");
        assertEquals(1, vm.recoverNxHugePages());
        assertEquals(0, vm.stats().get("nx_lpage_splits"));
        assertEquals(0, vm.recoverNxHugePages());
        assertEquals(2, vm.stats().get("remote_tlb_flush"));
        assertClean(vm);
    }

    @Test
    void ratioZeroRecoversNothing() {
        CoreVm vm = TestVms.create(nx(0), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        access(vm, Access.EXEC, G1, 0x1000);
        assertEquals(0, vm.recoverNxHugePages());
        assertEquals(1, vm.stats().get("nx_lpage_splits"));
    }

    @Test
    void aDirtyLoggedSplitIsUnaccountedNotZapped() {
        CoreVm vm = TestVms.create(nx(1), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        access(vm, Access.EXEC, G1, 0x1000);
        vm.setDirtyLogging(0, true, new DirtyLogOptions(false, false));
        assertEquals(0, vm.recoverNxHugePages());
        assertEquals(0, vm.stats().get("nx_lpage_splits"));
        assertEquals(0, vm.mmu.nx.possible());
        assertTrue(vm.lookup(G1, RootKind.DIRECT).orElseThrow().present());
        assertClean(vm);
    }

    @Test
    void zappingTheSplitTableUnaccountsIt() {
        CoreVm vm = TestVms.create(nx(1), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        access(vm, Access.EXEC, G1, 0x1000);
        vm.deleteMemslot(0);
        assertEquals(0, vm.stats().get("nx_lpage_splits"));
        assertEquals(0, vm.mmu.nx.possible());
        assertClean(vm);
    }

    @Test
    void withoutTheMitigationExecKeepsHugePages() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        access(vm, Access.EXEC, G1, M2);
        assertEquals(1, vm.stats().get("pages_2m"));
        assertEquals(0, vm.stats().get("nx_lpage_splits"));
    }

    @Test
    void disablingDirtyLoggingRecoversHugePagesInPlace() {
        CoreVm vm = TestVms.create(nx(1), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        access(vm, Access.WRITE, G1, 2 * M2);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertEquals(1024, vm.stats().get("pages_4k"));
        vm.access(0, Access.WRITE, G1 + M2 + 0x5000, 0x1000, Encoding.CURRENT, 0x99);
        long taken = vm.stats().get("pf_taken");
        long flushes = vm.stats().get("remote_tlb_flush");
        vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT);
        assertEquals(2, vm.stats().get("pages_2m"));
        assertEquals(0, vm.stats().get("pages_4k"));
        assertEquals(flushes + 1, vm.stats().get("remote_tlb_flush"), "one flush for the memslot");
        assertFalse(vm.lookup(G1 + 2 * M2, RootKind.DIRECT).map(i -> i.present()).orElse(false));
        assertClean(vm);
        assertEquals(0x99, access(vm, Access.READ, G1 + M2 + 0x5000, 0x1000).value());
        assertEquals(taken, vm.stats().get("pf_taken"), "no fault: the huge leaf is there");
        // with the NX mitigation the recovered leaf is not executable
        access(vm, Access.EXEC, G1, 0x1000);
        assertEquals(1, vm.stats().get("nx_lpage_splits"));
        assertClean(vm);
    }
}
