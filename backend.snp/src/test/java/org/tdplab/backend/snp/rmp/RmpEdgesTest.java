package org.tdplab.backend.snp.rmp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_ALL;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_R;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_W;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_XU;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The edges of the RMP: the first and last covered frame, the per-ASID accounting up to ASID 1023, the reads the
 * teardown and hot-swap paths use (assigned frames, export/restore), the message text of an entry, and the
 * invariant checker finding each kind of broken entry.
 */
class RmpEdgesTest {
    static final int ASID = 5;
    static final long FRAMES = 1L << 18, GPA = 0x4000_0000L, PFN = 0x1000;
    final Rmp rmp = new Rmp(FRAMES, RmpCodes.DEFAULT);
    final RmpCodes c = RmpCodes.DEFAULT;

    int makePrivate(long pfn, long gpa, int size, int asid) {
        return rmp.rmpupdate(pfn, gpa, true, size, false, asid);
    }

    int makeShared(long pfn, int size) {
        return rmp.rmpupdate(pfn, 0, false, size, false, 0);
    }

    @Test
    void theRmpCoversAPositiveMultipleOf512Frames() {
        assertThrows(IllegalArgumentException.class, () -> new Rmp(0, c));
        assertThrows(IllegalArgumentException.class, () -> new Rmp(-512, c));
        assertThrows(IllegalArgumentException.class, () -> new Rmp(513, c));
        Rmp small = new Rmp(512, c);
        assertEquals(512, small.frames());
        assertEquals(0, small.rmpupdate(511, 0x1000, true, SIZE_4K, false, ASID));
        assertEquals(c.failInput(), small.rmpupdate(512, 0x1000, true, SIZE_4K, false, ASID));
        assertEquals(0, small.rmpupdate(511, 0, false, SIZE_4K, false, 0));
    }

    @Test
    void theFirstAndLastFramesAreCoveredAndNothingBeyond() {
        long last = FRAMES - 1;
        assertEquals(0, makePrivate(0, 0, SIZE_4K, ASID), "frame 0 is covered");
        assertEquals(0, makePrivate(last, GPA, SIZE_4K, ASID), "the last frame is covered");
        assertTrue(RmpEntry.assigned(rmp.lo(0)));
        assertEquals(PERM_ALL, RmpEntry.perms(rmp.hi(0), 0), "VMPL0 gets every permission on frame 0");
        assertEquals(PERM_ALL, RmpEntry.perms(rmp.hi(last), 0));
        assertEquals(0, rmp.lo(FRAMES), "beyond the RMP reads as hypervisor-owned");
        assertEquals(0, rmp.hi(FRAMES));
        assertEquals(0, rmp.lo(-1));
        assertEquals(0, rmp.hi(-1));
        assertEquals(c.failInput(), makePrivate(FRAMES, GPA, SIZE_4K, ASID));
        assertEquals(c.failInput(), makePrivate(-1, GPA, SIZE_4K, ASID));

        // the guest instructions and checks on the last frame work; one past it is an RMP #NPF
        assertEquals(0, GuestResult.eax(rmp.pvalidate(last, GPA, SIZE_4K, true, ASID)));
        assertEquals(0, rmp.rmpadjust(last, GPA, SIZE_4K, 0, 1 | (long) PERM_R << 8, ASID));
        assertEquals(0, GuestResult.eax(rmp.pvalidate(0, 0, SIZE_4K, true, ASID)), "PVALIDATE of frame 0");
        assertEquals(Rmp.ACCESS_OK, rmp.accessCheck(last, GPA, 1, ASID, true, true, false, 0));
        assertEquals(Rmp.ACCESS_OK, rmp.accessCheck(0, 0, 1, ASID, true, true, false, 0));
        assertEquals(Rmp.NPF_RMP, GuestResult.npfBits(rmp.pvalidate(FRAMES, GPA, SIZE_4K, true, ASID)));
        assertEquals(Rmp.NPF_RMP, GuestResult.npfBits(rmp.pvalidate(-1, GPA, SIZE_4K, true, ASID)));
        assertEquals(Rmp.NPF_RMP, rmp.accessCheck(FRAMES, GPA, 1, ASID, true, false, false, 0));
        assertEquals(Rmp.NPF_RMP, rmp.accessCheck(-1, GPA, 1, ASID, true, false, false, 0));
        assertTrue(rmp.hostWriteFaults(last, 1));
        assertTrue(rmp.hostWriteFaults(0, 1));
        assertTrue(rmp.hostWriteFaults(0, 2), "a 2M host mapping over frame 0's region");
        assertFalse(rmp.hostWriteFaults(FRAMES, 1), "memory the RMP does not cover is the hypervisor's");
        assertFalse(rmp.hostWriteFaults(-1, 2));
        assertEquals(0, makeShared(0, SIZE_4K));
        assertEquals(0, makeShared(last, SIZE_4K));

        // PSMASH of the first and the last 2M region
        assertEquals(0, makePrivate(0, 0, SIZE_2M, ASID));
        assertEquals(0, rmp.psmash(0));
        assertEquals(1, rmp.privateLevel(0));
        assertEquals(0, makePrivate(FRAMES - 512, GPA, SIZE_2M, ASID));
        assertEquals(0, rmp.psmash(FRAMES - 512));
        assertEquals(c.failInput(), rmp.psmash(FRAMES));
        assertEquals(c.failInput(), rmp.psmash(-512));
        for (int i = 0; i < 512; i++) {
            assertEquals(0, makeShared(i, SIZE_4K));
            assertEquals(0, makeShared(FRAMES - 512 + i, SIZE_4K));
        }
        assertEquals(0, rmp.assignedPages());
        assertEquals(List.of(), rmp.check());
    }

    @Test
    void aPageOfARunningVmrunBlocksOnlyItself() {
        rmp.setInUse(PFN + 1, true);
        assertEquals(0, makePrivate(PFN, GPA, SIZE_4K, ASID), "the frame before the in-use one");
        assertEquals(c.failInuse(), makePrivate(PFN + 1, GPA + 0x1000, SIZE_4K, ASID));
        rmp.setInUse(PFN + 1, false);
        assertEquals(0, makeShared(PFN, SIZE_4K));
    }

    @Test
    void everyAsidUpTo1023IsCounted() {
        assertEquals(0, makePrivate(PFN, GPA, SIZE_4K, RmpEntry.MAX_ASID));
        assertEquals(0, makePrivate(PFN + 512, GPA + (2L << 20), SIZE_2M, 1));
        assertEquals(1, rmp.assignedPages(RmpEntry.MAX_ASID));
        assertEquals(512, rmp.assignedPages(1));
        assertEquals(513, rmp.assignedPages());
        assertEquals(List.of(), rmp.check());
        assertEquals(c.failInput(), makePrivate(PFN + 1, GPA, SIZE_4K, RmpEntry.MAX_ASID + 1));
        makeShared(PFN, SIZE_4K);
        makeShared(PFN + 512, SIZE_2M);
        assertEquals(0, rmp.assignedPages());
    }

    @Test
    void assignedFramesAreVisitedInFrameOrderA2mPageOnce() {
        makePrivate(PFN + 512, GPA, SIZE_2M, ASID);
        makePrivate(PFN + 3, GPA + 0x3000, SIZE_4K, ASID);
        makePrivate(PFN + 7, GPA + 0x7000, SIZE_4K, ASID + 1); // another guest's
        makePrivate(PFN + 2048 + 9, GPA + 0x9000, SIZE_4K, ASID);
        List<Long> seen = new ArrayList<>();
        rmp.forEachAssigned(ASID, seen::add);
        assertEquals(List.of(PFN + 3, PFN + 512, PFN + 2048 + 9), seen);
        assertEquals(List.of(PFN + 3, PFN + 512, PFN + 2048 + 9), rmp.assignedFrames(ASID, 10));
        assertEquals(List.of(PFN + 3, PFN + 512), rmp.assignedFrames(ASID, 2), "at most the limit");
        assertEquals(List.of(PFN + 3), rmp.assignedFrames(ASID, 1));
        assertEquals(List.of(PFN + 7), rmp.assignedFrames(ASID + 1, 4));
        assertEquals(List.of(), rmp.assignedFrames(ASID + 2, 4));
        makeShared(PFN + 512, SIZE_2M);
        makeShared(PFN + 3, SIZE_4K);
        makeShared(PFN + 7, SIZE_4K);
        makeShared(PFN + 2048 + 9, SIZE_4K);
    }

    @Test
    void exportAndRestoreCarryAVmsEntriesToAnotherRmpObject() {
        int n = 20; // more than the first buffer holds
        for (int i = 0; i < n; i++)
            makePrivate(PFN + i, GPA + i * 0x1000L, SIZE_4K, ASID);
        rmp.pvalidate(PFN + 4, GPA + 0x4000, SIZE_4K, true, ASID);
        makePrivate(PFN + 100, GPA, SIZE_4K, ASID + 1); // another guest's: not exported
        assertEquals(0, rmp.rmpupdate(PFN + 200, 0, true, SIZE_4K, true, 0)); // a firmware page, exported as extra
        long[] out = rmp.export(ASID, PFN + 200);
        assertEquals(4 * (n + 1), out.length);
        assertEquals(PFN, out[0]);
        assertEquals(rmp.lo(PFN), out[1]);
        assertEquals(rmp.hi(PFN), out[2]);
        assertEquals(Rmp.BY_RMPUPDATE, out[3]);
        assertEquals(Rmp.BY_PVALIDATE, out[4 * 4 + 3]);
        assertEquals(PFN + 200, out[4 * n]);

        Rmp other = new Rmp(FRAMES, c);
        other.rmpupdate(PFN, GPA + 0x5000, true, SIZE_4K, false, ASID + 2); // overwritten by the restore
        other.restore(out);
        assertEquals(n, other.assignedPages(ASID));
        assertEquals(0, other.assignedPages(ASID + 2), "the overwritten entry is no longer counted");
        assertEquals(1, other.assignedPages(0));
        assertTrue(other.validatedOf(PFN + 4));
        assertArrayEquals(out, other.export(ASID, PFN + 200));
        assertEquals(List.of(), other.check());
        assertThrows(IllegalArgumentException.class, () -> other.restore(new long[] { FRAMES, 1, 0, 1 }));
        assertThrows(IllegalArgumentException.class, () -> other.restore(new long[] { -1, 1, 0, 1 }));
        other.restore(new long[] { FRAMES - 1, 0, 0, 0 }); // the last frame is inside
        for (int i = 0; i < n; i++)
            makeShared(PFN + i, SIZE_4K);
        makeShared(PFN + 100, SIZE_4K);
        rmp.firmwareReclaim(PFN + 200);
        makeShared(PFN + 200, SIZE_4K);
    }

    @Test
    void anEntryIsDescribedForMessages() {
        assertEquals("hypervisor-owned (zero)", RmpEntry.describe(0, 0));
        long lo = RmpEntry.lo(0x200000, true, SIZE_2M, false, 3) | RmpEntry.VALIDATED;
        assertEquals("assigned asid=3 gpa=0x200000 2M validated perms=0x1f", RmpEntry.describe(lo,
                RmpEntry.withPerms(0, 0, PERM_ALL)));
        assertEquals("assigned asid=0 gpa=0x0 4K immutable vmsa", RmpEntry.describe(RmpEntry.lo(0, true, SIZE_4K,
                true, 0) | RmpEntry.VMSA, 0));
        assertEquals("unassigned asid=0 gpa=0x0 2M", RmpEntry.describe(RmpEntry.PAGE_SIZE, 0));
        assertEquals("unassigned asid=0 gpa=0x0 4K perms=0x100", RmpEntry.describe(0, 0x100));
    }

    @Test
    void permissionsOfOneVmplLeaveTheOthersAlone() {
        long hi = RmpEntry.withPerms(RmpEntry.withPerms(0, 0, PERM_ALL), 2, PERM_R | PERM_W);
        assertEquals(PERM_ALL, RmpEntry.perms(hi, 0));
        assertEquals(PERM_R | PERM_W, RmpEntry.perms(hi, 2));
        long changed = RmpEntry.withPerms(hi, 2, PERM_XU);
        assertEquals(PERM_XU, RmpEntry.perms(changed, 2));
        assertEquals(PERM_ALL, RmpEntry.perms(changed, 0));
        assertEquals(0, RmpEntry.perms(changed, 1));
    }

    @Test
    void returnCodesAreNamed() {
        assertEquals("SUCCESS", c.name(0));
        assertEquals("FAIL_INPUT", c.name(1));
        assertEquals("FAIL_PERMISSION", c.name(2));
        assertEquals("FAIL_INUSE", c.name(3));
        assertEquals("FAIL_OVERLAP", c.name(4));
        assertEquals("FAIL_SIZEMISMATCH", c.name(6));
        assertEquals("FAIL_5", c.name(5));
    }

    @Test
    void guestResultsAndErrorCodes() {
        assertTrue(GuestResult.updated(GuestResult.ret(0)));
        assertFalse(GuestResult.updated(GuestResult.noUpdate()));
        assertFalse(GuestResult.updated(GuestResult.ret(6)));
        assertTrue(GuestResult.cf(GuestResult.noUpdate()));
        assertFalse(GuestResult.cf(GuestResult.ret(0)));
        assertFalse(GuestResult.cf(GuestResult.npf(1L << 8)), "an NPF has no rFLAGS");
        assertEquals(Pferr.PRESENT | Pferr.USER, Pferr.access(false, false));
        assertEquals(Pferr.PRESENT | Pferr.USER | Pferr.WRITE, Pferr.access(true, false));
        assertEquals(Pferr.PRESENT | Pferr.USER | Pferr.FETCH, Pferr.access(false, true));
        assertEquals(0x7, Pferr.access(true, false));
        assertEquals(0x15, Pferr.access(false, true));
    }

    @Test
    void rmpadjustFromVmpl0SetsOrClearsVmsaAsAsked() {
        makePrivate(PFN, GPA, SIZE_4K, ASID);
        rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
        assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1 | (long) PERM_R << 8 | 1L << 16, ASID));
        assertTrue(RmpEntry.vmsa(rmp.lo(PFN)));
        assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1 | (long) PERM_R << 8, ASID));
        assertFalse(RmpEntry.vmsa(rmp.lo(PFN)), "RDX bit 16 clear: the page is no VMSA");
        makeShared(PFN, SIZE_4K);
    }

    @Test
    void aVmplWithoutReadCannotReadEvenWithWrite() {
        makePrivate(PFN, GPA, SIZE_4K, ASID);
        rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
        assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1 | (long) PERM_W << 8, ASID));
        long r = rmp.accessCheck(PFN, GPA, 1, ASID, true, false, false, 1);
        assertEquals(Pferr.GUEST_VMPL, r & (Pferr.GUEST_VMPL | Pferr.GUEST_RMP), "a read without R");
        assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1 | (long) PERM_XU << 8, ASID));
        assertEquals(Rmp.ACCESS_OK, rmp.accessCheck(PFN, GPA, 1, ASID, true, false, true, 1), "a user fetch");
        makeShared(PFN, SIZE_4K);
    }

    @Test
    void aHugeHostMappingFaultsWhenAnyFrameOfItsRegionIsAssigned() {
        makePrivate(PFN + 511, GPA, SIZE_4K, ASID);
        assertTrue(rmp.hostWriteFaults(PFN, 2), "the last frame of the region is assigned");
        assertFalse(rmp.hostWriteFaults(PFN, 1));
        assertFalse(rmp.hostWriteFaults(PFN + 512, 2), "the next region is free");
        makeShared(PFN + 511, SIZE_4K);
        makePrivate(PFN, GPA, SIZE_4K, ASID);
        assertTrue(rmp.hostWriteFaults(PFN + 300, 3), "a 1G mapping is checked as 2M");
        makeShared(PFN, SIZE_4K);
    }

    /**
     * The per-ASID counts live in the stripe's line, one word per ASID: a region holding more ASIDs than the line has
     * words counts the rest elsewhere, and every count is right, as assigned and as given back in any order.
     */
    @Test
    void assignedCountsOfMoreAsidsThanAStripeLineHolds() {
        int asids = 9;
        for (int a = 1; a <= asids; a++)
            assertEquals(0, makePrivate(PFN + a, GPA + ((long) a << 12), SIZE_4K, a));
        assertEquals(0, makePrivate(PFN + 100, GPA + (100L << 12), SIZE_4K, asids));
        makePrivate(PFN + 512, GPA, SIZE_2M, 1);
        makeShared(PFN + 512, SIZE_2M);
        for (int a = 1; a <= asids; a++)
            assertEquals(a == asids ? 2 : 1, rmp.assignedPages(a), "ASID " + a);
        assertEquals(asids + 1, rmp.assignedPages());
        assertEquals(List.of(), rmp.check());
        for (int a = 1; a <= asids; a += 2)
            assertEquals(0, makeShared(PFN + a, SIZE_4K));
        assertEquals(0, makePrivate(PFN + 200, GPA + (200L << 12), SIZE_4K, 2));
        for (int a = 1; a <= asids; a++)
            assertEquals(a % 2 == 1 ? (a == asids ? 1 : 0) : a == 2 ? 2 : 1, rmp.assignedPages(a), "ASID " + a);
        assertEquals(List.of(), rmp.check());
        for (long pfn : new long[] { PFN + 2, PFN + 4, PFN + 6, PFN + 8, PFN + 100, PFN + 200 })
            assertEquals(0, makeShared(pfn, SIZE_4K));
        assertEquals(0, rmp.assignedPages());
        assertEquals(List.of(), rmp.check());
    }

    // ---- the checker finds what the instructions never write ------------------------------------------------

    List<String> checkAfter(long pfn, long lo, long hi, byte by) {
        int stripe = rmp.lock(pfn);
        try {
            rmp.assignedCounts.account(stripe, rmp.lo(pfn), -1);
            rmp.assignedCounts.account(stripe, lo, +1);
            rmp.write(pfn, lo, hi, by);
        } finally {
            rmp.stripes.unlock(stripe);
        }
        return rmp.check();
    }

    static void assertReports(List<String> violations, String what) {
        assertTrue(violations.stream().anyMatch(v -> v.contains(what)), () -> what + " not in " + violations);
    }

    @Test
    void theCheckerReportsEachBrokenRule() {
        long lo4k = RmpEntry.lo(GPA, true, SIZE_4K, false, ASID);
        assertReports(checkAfter(PFN + 3, lo4k | RmpEntry.VALIDATED, 0, Rmp.BY_RMPUPDATE), "R4: Validated or VMSA "
                + "survived RMPUPDATE");
        assertReports(rmp.check(), "R4: Validated not set by PVALIDATE");
        assertEquals(List.of(), checkAfter(PFN + 3, lo4k | RmpEntry.VALIDATED, 0, Rmp.BY_PSMASH));
        assertEquals(List.of(), checkAfter(PFN + 3, lo4k | RmpEntry.VALIDATED, 0, Rmp.BY_RMPADJUST));
        assertEquals(List.of(), checkAfter(PFN + 3, lo4k | RmpEntry.VALIDATED, 0, Rmp.BY_FIRMWARE));
        assertReports(checkAfter(PFN + 3, lo4k | RmpEntry.VMSA, 0, Rmp.BY_RMPUPDATE), "R4: Validated or VMSA");
        assertEquals(List.of(), checkAfter(PFN + 3, 0, 0, Rmp.BY_RMPUPDATE));

        assertReports(checkAfter(PFN + 3, RmpEntry.lo(GPA, true, SIZE_2M, false, ASID), 0, Rmp.BY_RMPUPDATE),
                "R2: a 2M entry off a 2M boundary");
        assertEquals(List.of(), checkAfter(PFN + 3, 0, 0, Rmp.BY_RMPUPDATE));
        makePrivate(PFN, GPA, SIZE_2M, ASID);
        assertReports(checkAfter(PFN + 3, lo4k, 0, Rmp.BY_RMPUPDATE), "R2: an entry inside an assigned 2M page");
        assertEquals(List.of(), checkAfter(PFN + 3, 0, 0, Rmp.BY_RMPUPDATE));
        makeShared(PFN, SIZE_2M);
        assertEquals(List.of(), checkAfter(PFN + 3, lo4k, 0, Rmp.BY_RMPUPDATE),
                "4K entries inside a hypervisor-owned 2M entry are fine");
        assertEquals(List.of(), checkAfter(PFN + 3, 0, 0, Rmp.BY_RMPUPDATE));
        assertEquals(List.of(), checkAfter(PFN, 0, 0, Rmp.BY_RMPUPDATE));

        rmp.assignedCounts.assignedOverflow.add(RmpEntry.MAX_ASID, 1);
        assertEquals(List.of("rmp: ASID 1023 owns 0 frames, the count says 1"), rmp.check());
        rmp.assignedCounts.assignedOverflow.add(RmpEntry.MAX_ASID, -1);
        assertEquals(List.of(), rmp.check());
        int stripe = rmp.lock(PFN);
        assertTrue(rmp.stripes.addAssigned(stripe, RmpEntry.MAX_ASID, 2));
        rmp.stripes.unlock(stripe);
        assertEquals(List.of("rmp: ASID 1023 owns 0 frames, the count says 2"), rmp.check(), "a stripe's count");
        stripe = rmp.lock(PFN);
        assertTrue(rmp.stripes.addAssigned(stripe, RmpEntry.MAX_ASID, -2));
        rmp.stripes.unlock(stripe);
        assertEquals(List.of(), rmp.check());
    }
}
