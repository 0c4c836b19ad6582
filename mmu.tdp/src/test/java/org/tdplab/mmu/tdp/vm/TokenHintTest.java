package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.tdp.slot.Memslot;

/**
 * The hint a vCPU reads when its walk ends in a violation ({@link VmMemory#peekSharedToken}): the token of the frame
 * the slot's host map gives the GFN, 0 where there is none, and never a host page faulted in by the look.
 */
class TokenHintTest {
    @Test
    void theHintIsTheMappedFramesTokenAndFaultsNothingIn() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        Memslot s = vm.mem.memslots.find(3);
        assertEquals(0L, vm.mem.peekSharedToken(3), "no host page yet");
        assertEquals(-1L, s.hvaPfnIfPresent(3), "the look faulted no host page in");
        assertEquals(0L, vm.mem.peekSharedToken(1L << 30), "no slot there");
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 77).completed());
        assertEquals(77L, vm.mem.peekSharedToken(3), "the token of the frame the write reached");
        assertEquals(77L, vm.mem.host.read(s.hvaPfnIfPresent(3)));
        assertEquals(0L, vm.mem.peekSharedToken(4), "a frame of the same host block, never written");
        vm.zapGfnRange(0x3000, 0x1000);
        assertEquals(77L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        assertEquals(0L, vm.vcpus.all[0].hinted, "no hint again within the 2M of the last one");
        vm.vcpus.all[0].hintedGfn = -1;
        vm.zapGfnRange(0x3000, 0x1000);
        assertEquals(77L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        assertEquals(77L, vm.vcpus.all[0].hinted, "the read's violation read the frame's token first");
        assertClean(vm);
        vm.destroy();
    }
}
