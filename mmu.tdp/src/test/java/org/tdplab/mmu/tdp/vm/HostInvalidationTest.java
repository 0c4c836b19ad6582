package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;

/**
 * An MMU-notifier invalidation of host pages backed by huge host pages: a huge host page only partly inside the
 * range is split first, and the split invalidates all of it ({@code __split_huge_pmd}); host pages wholly outside
 * keep their guest mappings.
 */
class HostInvalidationTest {
    private static final long K4 = 0x1000;

    /** Which 4K pages of the slot (pages from G1) the direct root maps, as a string of 0/1 per 2M region. */
    private static String mappedRegions(CoreVm vm, int regions) {
        StringBuilder s = new StringBuilder();
        for (int r = 0; r < regions; r++) {
            int mapped = 0;
            for (long p = 0; p < 512; p++)
                if (vm.lookup(G1 + r * M2 + p * K4, RootKind.DIRECT).map(l -> l.present() && l.leaf()).orElse(false))
                    mapped++;
            s.append(mapped == 512 ? 'M' : mapped == 0 ? '-' : '~');
        }
        return s.toString();
    }

    @Test
    void aPartialInvalidationOfAHugeHostPageInvalidatesAllOfIt() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT); // the guest maps 4K, the host keeps 2M pages
        assertTrue(vm.access(0, Access.WRITE, G1, 4 * M2, Encoding.CURRENT, 3).completed());
        assertEquals("MMMM", mappedRegions(vm, 4));
        assertEquals(1, vm.lookup(G1, RootKind.DIRECT).orElseThrow().level());

        vm.notifyUnmap(G1 + M2 + 0x5000, K4); // one page of the second host page
        assertEquals("M-MM", mappedRegions(vm, 4));
        vm.notifyUnmap(G1 + 3 * M2 - K4, 2 * K4); // the last page of the third and the first of the fourth
        assertEquals("M---", mappedRegions(vm, 4));
        assertTrue(vm.access(0, Access.READ, G1, 4 * M2, Encoding.CURRENT, 3).completed(), "the data moved along");
        assertClean(vm);
        vm.destroy();
    }

    /** The host migrates exactly the pages of the range: each moves to another frame with its data, the rest stay. */
    @Test
    void aNotifierUnmapMovesThePagesOfItsRangeOnly() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        for (long p = 3; p < 6; p++)
            assertTrue(vm.access(0, Access.WRITE, G1 + p * K4, K4, Encoding.CURRENT, 0x100 + p).completed());
        long[] before = new long[6];
        for (int p = 3; p < 6; p++)
            before[p] = vm.lookup(G1 + p * K4, RootKind.DIRECT).orElseThrow().pfn();
        vm.notifyUnmap(G1 + 4 * K4, K4);
        assertEquals(before[3], vm.lookup(G1 + 3 * K4, RootKind.DIRECT).orElseThrow().pfn());
        assertEquals(before[5], vm.lookup(G1 + 5 * K4, RootKind.DIRECT).orElseThrow().pfn());
        assertEquals(0x104, vm.access(0, Access.READ, G1 + 4 * K4, K4, Encoding.CURRENT, 0).value(), "moved with its data");
        assertTrue(before[4] != vm.lookup(G1 + 4 * K4, RootKind.DIRECT).orElseThrow().pfn(), "to another frame");
        assertClean(vm);
        vm.destroy();
    }
}
