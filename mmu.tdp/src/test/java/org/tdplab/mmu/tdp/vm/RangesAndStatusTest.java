package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.vcpu.GuestMode;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** What an ioctl refuses before anything changes (errno and a message naming the value), and the VM's liveness. */
class RangesAndStatusTest {
    private static void refused(Errno errno, String message, Runnable r) {
        MmuException e = assertThrows(MmuException.class, r::run);
        assertEquals(errno, e.errno());
        assertEquals(errno.name() + ": " + message, e.getMessage());
    }

    @Test
    void aGpaRangeMustBeWholePagesInsideTheVm() {
        assertArrayEquals(new long[] { 1, 3 }, Ranges.gfnRange("op", 0x1000, 0x2000, 4));
        assertArrayEquals(new long[] { 0, 4 }, Ranges.gfnRange("op", 0, 0x4000, 4), "up to the limit exactly");
        refused(Errno.EINVAL, "op: size=0x0 must be positive", () -> Ranges.gfnRange("op", 0x1000, 0, 4));
        refused(Errno.EINVAL, "op: gpa=0x1800 is not 4K-aligned", () -> Ranges.gfnRange("op", 0x1800, 0x1000, 4));
        refused(Errno.EINVAL, "op: size=0x1800 is not a multiple of 4K", () -> Ranges.gfnRange("op", 0, 0x1800, 4));
        refused(Errno.EINVAL, "op: gpa=0x1000 size=0x4000 reaches beyond the VM's limit 0x4000",
                () -> Ranges.gfnRange("op", 0x1000, 0x4000, 4));
        refused(Errno.EINVAL, "op: gpa=0xfffffffffffff000 size=0x1000 wraps past 2^64",
                () -> Ranges.checkRange("op", -0x1000L, 0x1000, -1L));
        Ranges.checkRange("op", -0x2000L, 0x1000, -1L); // ends below 2^64: fine, as unsigned numbers
    }

    @Test
    void aBugKillsTheVmOnceAndLaterIoctlsAreRefused() {
        Vcpu v = new Vcpu(0, new TablePool(TableFrames.sequential(0x1000)));
        GuestMode gm = new GuestMode(new Vcpu[] { v });
        VmStatus s = new VmStatus("vm1", "default", gm, false);
        s.requireAlive();
        assertFalse(s.dead());
        assertFalse(s.bugged());
        assertEquals(Optional.empty(), s.deadReason());
        assertFalse(s.preFaultAllowed());
        s.allowPreFault();
        assertTrue(s.preFaultAllowed());

        s.bug("first");
        s.bug("second");
        assertTrue(s.bugged());
        assertTrue(s.dead());
        assertEquals(Optional.of("first"), s.bugReason(), "the first bug is the one reported");
        assertEquals(Optional.of("first"), s.deadReason());
        assertEquals(1, gm.generation(), "the vCPUs were kicked out of the guest once");
        refused(Errno.EIO, "VM 'vm1' is bugged (first)", s::requireAlive);
        s.destroyed(true);
        assertTrue(s.destroyed());
        refused(Errno.ENODEV, "VM 'vm1' was destroyed", s::requireAlive);

        VmStatus d = new VmStatus("vm2", "default", gm, true);
        d.kill("shutdown");
        d.kill("again");
        assertFalse(d.bugged());
        assertEquals(Optional.of("shutdown"), d.deadReason());
        assertEquals(2, gm.generation());
        refused(Errno.EIO, "VM 'vm2' is dead (shutdown)", d::requireAlive);
    }
}
