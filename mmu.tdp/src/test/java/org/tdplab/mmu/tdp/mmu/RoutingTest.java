package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmCapabilities;

/** The routing of a fault from independent facts: a shared bit, mirrored tables, where privateness comes from. */
class RoutingTest {
    @Test
    void aSharedBitWithMirroredTablesRoutesByTheBit() {
        Routing r = new Routing(VmCapabilities.ordinary("x", 48).withPrivateMemory(PrivateSource.SHARED_BIT, 1)
                .withMirroredPt(47));
        assertEquals(1L << 47, r.sharedBitMask);
        assertEquals(0x5, r.naturalGfn((1L << 47) | 0x5000));
        assertEquals(0x5123, r.naturalGpa((1L << 47) | 0x5123), "the offset in the page stays");
        assertTrue(r.hasSharedBit(1L << 47));
        assertFalse(r.isPrivateFault((1L << 47) | 0x5000, false, true), "the bit decides, not the attribute");
        assertTrue(r.isPrivateFault(0x5000, false, false));
        assertEquals((1L << 47) | 0x5000, r.guestGpa(5, false));
        assertEquals(0x5000, r.guestGpa(5, true));
        assertTrue(r.followsMirror(true));
        assertFalse(r.followsMirror(false));
    }

    @Test
    void mirroredTablesWithoutASharedBitRouteByTheAttribute() {
        Routing r = new Routing(VmCapabilities.ordinary("x", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 2)
                .withMirroredPt());
        assertEquals(0, r.sharedBitMask);
        assertEquals(1L << 35, r.naturalGfn(1L << 47), "the top bit is an ordinary GPA bit");
        assertFalse(r.hasSharedBit(1L << 47));
        assertTrue(r.isPrivateFault(1L << 47, false, true));
        assertFalse(r.isPrivateFault(0, true, false), "an encrypted-access bit means nothing here");
        assertEquals(0x5000, r.guestGpa(5, false));
        assertTrue(r.followsMirror(true));
    }

    @Test
    void aSharedBitWithoutMirroredTablesNeverFollowsAMirror() {
        Routing r = new Routing(VmCapabilities.ordinary("x", 48).withPrivateMemory(PrivateSource.SHARED_BIT, 1)
                .withSharedBit(47));
        assertTrue(r.isPrivateFault(0x1000, false, false));
        assertFalse(r.followsMirror(true), "private, but through the direct root");
        Routing errorCode = new Routing(VmCapabilities.ordinary("x", 48)
                .withPrivateMemory(PrivateSource.ERROR_CODE, 2));
        assertTrue(errorCode.isPrivateFault(0x1000, true, false));
        assertFalse(errorCode.isPrivateFault(0x1000, false, true));
    }
}
