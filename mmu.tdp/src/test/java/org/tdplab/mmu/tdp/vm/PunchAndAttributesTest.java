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
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * A hole punch needs a guest_memfd behind the range and punches only the gmem slots of it; a huge mapping that
 * straddles an attribute change is gone after it, so no fault rebuilds a huge page across GFNs of both kinds.
 */
class PunchAndAttributesTest {
    private static final VmCapabilities CAPS = VmCapabilities.ordinary("sw_protected", 48)
            .withPrivateMemory(PrivateSource.ATTRIBUTES, 2);

    @Test
    void aPunchWithNoGuestMemfdBehindTheRangeIsRefused() {
        CoreVm vm = TestVms.create(CAPS, 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        slot(vm, 1, M2, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        MmuException e = assertThrows(MmuException.class, () -> vm.punchHole(0x1000, 0x2000));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals("EINVAL: no guest_memfd backs gpa=0x1000..0x3000", e.getMessage());
        vm.setMemoryAttributes(M2, M2, true);
        assertTrue(vm.access(0, Access.WRITE, M2 - 0x1000, 0x2000, Encoding.CURRENT, 4).completed());
        vm.punchHole(M2 - 0x1000, 0x2000); // across both slots: only the gmem one is punched
        assertTrue(vm.lookup(M2 - 0x1000, RootKind.DIRECT).map(l -> l.present()).orElse(false), "not gmem: kept");
        assertFalse(vm.lookup(M2, RootKind.DIRECT).map(l -> l.present()).orElse(false), "punched: unmapped");
        assertClean(vm);
        vm.destroy();
    }

    @Test
    void anAttributeChangeInsideAHugeMappingTakesAllOfIt() {
        CoreVm vm = TestVms.create(CAPS, 1);
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        assertTrue(vm.access(0, Access.WRITE, 0, 2 * M2, Encoding.CURRENT, 4).completed());
        assertEquals(2, vm.lookup(M2, RootKind.DIRECT).orElseThrow().level());
        vm.setMemoryAttributes(M2 + 0x5000, 0x1000, true);
        assertFalse(vm.lookup(M2, RootKind.DIRECT).map(l -> l.present()).orElse(false),
                "the 2M shared mapping over the changed page is gone");
        assertEquals(2, vm.lookup(0, RootKind.DIRECT).orElseThrow().level(), "the other 2M range is untouched");
        assertTrue(vm.access(0, Access.READ, M2, 0x5000, Encoding.CURRENT, 4).completed());
        assertEquals(1, vm.lookup(M2, RootKind.DIRECT).orElseThrow().level(), "mixed now: mapped at 4K");
        assertClean(vm);
        vm.destroy();
    }

    /**
     * The guest's conversion handled as QEMU does: the old kind's backing is discarded, so a page converted away and
     * back reads zero — private data punched from the guest_memfd, shared data dropped from the host memory.
     */
    @Test
    void aPageConvertedAwayAndBackReadsZero() {
        CoreVm vm = TestVms.create(CAPS, 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        assertTrue(vm.convert(0, true, 0x3000, 0x1000).completed());
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 7).completed());
        assertEquals(7L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        assertTrue(vm.convert(0, false, 0x3000, 0x1000).completed());
        assertEquals(0L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value(), "shared: fresh");
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 9).completed());
        assertTrue(vm.convert(0, true, 0x3000, 0x1000).completed());
        assertEquals(0L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value(),
                "private again: the punched page reads zero");
        assertTrue(vm.convert(0, false, 0x3000, 0x1000).completed());
        assertEquals(0L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value(),
                "shared again: the 9 was discarded with the shared page");
        assertClean(vm);
        vm.destroy();
    }

    @Test
    void aPunchNextToAGuestMemfdSlotButNotInsideItFindsNone() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        TestVms.slot(vm, 0, TestVms.M2, TestVms.M2, PageSize.SIZE_4K, org.tdplab.mmu.api.SlotFlag.GMEM);
        for (long gpa : new long[] { 0, 2 * TestVms.M2 }) {
            org.tdplab.mmu.api.MmuException e = org.junit.jupiter.api.Assertions.assertThrows(
                    org.tdplab.mmu.api.MmuException.class, () -> vm.punchHole(gpa, TestVms.M2));
            org.junit.jupiter.api.Assertions.assertEquals(org.tdplab.mmu.api.Errno.EINVAL, e.errno());
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("no guest_memfd backs"),
                    e.getMessage());
        }
        vm.destroy();
    }
}
