package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm.FaultResult;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mmu.ErrorCode;

/**
 * The guest's accesses as the hardware makes them: a TLB entry is used only for the permissions it was filled with,
 * an exit reports how many pages completed before it, and the GPA range is checked against the guest's address
 * width before anything runs.
 */
class GuestAccessTest {
    private static AccessResult access(CoreVm vm, Access a, long gpa, long size) {
        return vm.access(0, a, gpa, size, Encoding.CURRENT, 7);
    }

    @Test
    void aTlbEntryFilledByAReadDoesNotServeAWrite() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.READONLY);
        assertTrue(access(vm, Access.READ, 0, 0x1000).completed());
        AccessResult w = access(vm, Access.WRITE, 0, 0x1000);
        assertEquals(Exit.Reason.MMIO, w.exit().reason(), "a write to a read-only slot is emulated, TLB or not");
        assertEquals(0, w.pages());
        assertEquals(0, access(vm, Access.READ, 0, 0x1000).value(), "nothing was written");
        assertClean(vm);
    }

    @Test
    void aTlbEntryFilledByAReadDoesNotServeAnExecOfAnNxHugePage() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withNxHugePages(true, 1), 1);
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M);
        assertTrue(access(vm, Access.READ, 0, 0x1000).completed());
        assertEquals(1, vm.stats().get("pages_2m"));
        assertTrue(access(vm, Access.EXEC, 0, 0x1000).completed());
        assertEquals(1, vm.stats().get("nx_lpage_splits"), "the exec faulted and split the huge page");
        assertEquals(0, vm.stats().get("pages_2m"));
        assertClean(vm);
    }

    @Test
    void anExitReportsThePagesCompletedBeforeIt() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, 0x3000, PageSize.SIZE_4K);
        AccessResult r = access(vm, Access.WRITE, 0x1000, 0x4000);
        assertEquals(2, r.pages(), "0x1000 and 0x2000 were written, 0x3000 has no memslot");
        assertEquals(Exit.Reason.MMIO, r.exit().reason());
        assertEquals(0x3000, r.exit().gpa());
        AccessResult done = access(vm, Access.READ, 0, 0x3000);
        assertEquals(3, done.pages());
        assertFalse(done.valuesAgree(), "page 0 was never written");
        AccessResult same = access(vm, Access.READ, 0x1000, 0x2000);
        assertTrue(same.valuesAgree());
        assertEquals(7, same.value());
        assertClean(vm);
    }

    @Test
    void theRangeMustLieInsideTheGuestAddressWidth() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        long top = 1L << 48;
        assertEquals(Exit.Reason.MMIO, access(vm, Access.READ, top - 0x1000, 0x1000).exit().reason(),
                "the last page is addressable");
        MmuException e = assertThrows(MmuException.class, () -> access(vm, Access.READ, top - 0x1000, 0x2000));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals("EINVAL: gpa=0xfffffffff000 size=0x2000 wraps or lies beyond gpaw=48", e.getMessage());
        e = assertThrows(MmuException.class, () -> access(vm, Access.READ, -0x1000L, 0x2000));
        assertEquals(Errno.EINVAL, e.errno());
        e = assertThrows(MmuException.class, () -> access(vm, Access.READ, 0, 0));
        assertEquals("EINVAL: size=0x0 must be positive", e.getMessage());

        assertEquals(FaultResult.MMIO, vm.fault(0, top - 0x1000, ErrorCode.USER));
        e = assertThrows(MmuException.class, () -> vm.fault(0, top, ErrorCode.USER));
        assertEquals("EINVAL: gpa=0x1000000000000 lies beyond gpaw=48", e.getMessage());
        assertThrows(MmuException.class, () -> vm.fault(0, -1L, ErrorCode.USER));
    }

    @Test
    void aSharedAliasFaultMapsTheNaturalGfnInTheDirectRoot() {
        CoreVm vm = TestVms.create(VmCapabilities.ordinary("m", 48)
                .withPrivateMemory(org.tdplab.mmu.api.backend.PrivateSource.SHARED_BIT, 3).withMirroredPt(47), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        assertEquals(FaultResult.FIXED, vm.fault(0, (1L << 47) | 0x5000, ErrorCode.USER | ErrorCode.WRITE));
        assertTrue(vm.lookup((1L << 47) | 0x5000, org.tdplab.mmu.api.RootKind.DIRECT).orElseThrow().present());
        assertEquals(0x5, vm.lookup((1L << 47) | 0x5000, org.tdplab.mmu.api.RootKind.DIRECT).orElseThrow().gfn()
                & 0xfff);
        assertEquals(1, vm.stats().get("pages_4k"));
    }
}
