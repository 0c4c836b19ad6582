package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;

/**
 * The guest access's edges: the range may end exactly at the top of the GPA width but not past it; an access that
 * leaves guest memory stops at the page that exited, counting the pages done; a read over pages of different values
 * says they disagree.
 */
class GuestAccessEdgesTest {
    @Test
    void anAccessStopsWhereItExitsAndCountsWhatItDid() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        AccessResult r = vm.access(0, Access.WRITE, M2 - 0x2000, 0x4000, Encoding.CURRENT, 5);
        assertFalse(r.completed());
        assertEquals(2, r.pages(), "the two pages of the memslot were written");
        assertEquals(Exit.Reason.MMIO, r.exit().reason());
        assertEquals(M2, r.exit().gpa());
        assertTrue(vm.access(0, Access.WRITE, 0x1000, 0x1000, Encoding.CURRENT, 6).completed());
        AccessResult read = vm.access(0, Access.READ, 0, 0x3000, Encoding.CURRENT, 0);
        assertTrue(read.completed());
        assertFalse(read.valuesAgree(), "pages of different values");
        assertTrue(vm.access(0, Access.READ, 0x1000, 0x1000, Encoding.CURRENT, 0).valuesAgree());
        vm.destroy();
    }

    @Test
    void theRangeMayEndAtTheTopOfTheGpaWidthButNotPastIt() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        long top = 1L << 48;
        slot(vm, 0, top - M2, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, top - 0x1000, 0x1000, Encoding.CURRENT, 1).completed());
        MmuException e = assertThrows(MmuException.class,
                () -> vm.access(0, Access.WRITE, top - 0x1000, 0x2000, Encoding.CURRENT, 1));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, -0x1000L, 0x2000, Encoding.CURRENT, 0)).errno(), "wraps");
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0, 0, Encoding.CURRENT, 0)).errno(), "empty");
        vm.destroy();
    }
}
