package org.tdplab.concurrency;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.backend.snp.rmp.RmpCodes;
import org.tdplab.backend.snp.rmp.RmpEntry;

/**
 * The RMP's storage under its instructions' locks and its lock-free readers: a 2M region's words are created on the
 * first non-zero entry and dropped with the last, under the region's lock, and an instruction reads the region once
 * per hold of that lock (560682e); readers ({@code snp_lookup_rmpentry}'s stand-ins) read the governing entry without
 * it, the aligned entry first.
 */
@ExtendWith(FrayTestExtension.class)
class RmpRaceTest {
    private static final long REGION = 512, GPA = 2L << 20;
    private static final int ASID = 1;

    /** RMPUPDATE, retried as Linux does while another CPU updates the same 2M region. */
    private static int update(Rmp rmp, long pfn, long gpa, boolean assigned, int asid) {
        for (;;) {
            int r = rmp.rmpupdate(pfn, gpa, assigned, RmpEntry.SIZE_4K, false, asid);
            if (r != RmpCodes.DEFAULT.failOverlap())
                return r;
            Thread.yield();
        }
    }

    private static void expect(boolean ok, String what) {
        if (!ok)
            throw new AssertionError(what);
    }

    /**
     * One CPU assigns a page of a region and gives it back (the region is made, then dropped), another assigns a
     * second page of it: neither write may land in a region the table no longer holds, or replace one it does. Fails
     * with RMPUPDATE looking the region up before it takes the lock (checked: third iteration, the ASID's count off).
     */
    @ConcurrencyTest(iterations = 100)
    void regionMadeAndDroppedWhileAnotherPageOfItIsAssigned() throws Exception {
        Rmp rmp = new Rmp(2 * REGION, RmpCodes.DEFAULT);
        long x = REGION + 1, y = REGION + 2;
        Lab.parallel(() -> {
            expect(update(rmp, x, GPA + 0x1000, true, ASID) == RmpCodes.SUCCESS, "assign x");
            expect(update(rmp, x, 0, false, 0) == RmpCodes.SUCCESS, "return x");
        }, () -> expect(update(rmp, y, GPA + 0x2000, true, ASID) == RmpCodes.SUCCESS, "assign y"));
        expect(!rmp.isAssigned(x), "x is still assigned");
        expect(rmp.isAssigned(y) && rmp.asidOf(y) == ASID, "y's entry was lost: " + Long.toHexString(rmp.lo(y)));
        expect(rmp.assignedPages(ASID) == 1, "assigned pages of the ASID: " + rmp.assignedPages(ASID));
        List<String> broken = rmp.check();
        expect(broken.isEmpty(), "RMP invariants: " + broken);
    }

    /**
     * PSMASH of an assigned 2M page while another CPU reads the entries that govern its frames without the lock: each
     * frame is the guest's before, during and after (the aligned entry turns 4K last, and a reader reads it first).
     * Fails with PSMASH writing the aligned entry first (checked: frame 0x3ff read as unassigned, first iteration), or
     * with {@code governingLo} reading the frame's own entry before the aligned one (checked: frame 0x201 read as
     * unassigned, fourth iteration).
     */
    @ConcurrencyTest(iterations = 100)
    void psmashUnderLockFreeReaders() throws Exception {
        Rmp rmp = new Rmp(2 * REGION, RmpCodes.DEFAULT);
        expect(rmp.rmpupdate(REGION, GPA, true, RmpEntry.SIZE_2M, false, ASID) == RmpCodes.SUCCESS, "2M assign");
        long[] frames = { REGION + 1, REGION + 0x1ff, REGION };
        AtomicBoolean done = new AtomicBoolean();
        Lab.parallel(() -> {
            expect(rmp.psmash(REGION) == RmpCodes.SUCCESS, "psmash");
            done.set(true);
        }, () -> {
            // frame 0x201's own entry is written just before the aligned one: a reader that read it first and the
            // aligned entry after those two writes took the old (zero) own entry for the governing one
            for (int round = 0; round < 2 || !done.get(); round++)
                for (long pfn : frames) {
                    expect(rmp.isAssigned(pfn), "frame 0x" + Long.toHexString(pfn) + " read as unassigned");
                    expect(rmp.asidOf(pfn) == ASID, "frame 0x" + Long.toHexString(pfn) + " read with another ASID");
                    expect(rmp.gpaOf(pfn) == GPA + ((pfn - REGION) << 12), "frame 0x" + Long.toHexString(pfn)
                            + " read at GPA 0x" + Long.toHexString(rmp.gpaOf(pfn)));
                }
        });
        for (long pfn : frames)
            expect(rmp.privateLevel(pfn) == 1, "frame 0x" + Long.toHexString(pfn) + " not 4K after PSMASH");
        List<String> broken = rmp.check();
        expect(broken.isEmpty(), "RMP invariants: " + broken);
    }
    /**
     * Two CPUs assign pages of one 2M region for two ASIDs (one gives its page back) while a third counts each ASID's
     * frames without a lock: the counts live in the words of the region's stripe line, which only the stripe lock's
     * holder writes, each word an ASID and its count together, so a reader sees every count whole and under its own
     * ASID. (Counting after the lock is let go is a plain data race, which Fray does not interleave: 3,000 iterations
     * of that broken version passed; this checks the counts and the reader's view of them under the instructions'
     * interleavings.)
     */
    @ConcurrencyTest(iterations = 100)
    void assignedCountsOfTwoAsidsInOneStripe() throws Exception {
        Rmp rmp = new Rmp(2 * REGION, RmpCodes.DEFAULT);
        long x = REGION + 1, y = REGION + 2;
        int other = ASID + 1;
        Lab.parallel(() -> {
            expect(update(rmp, x, GPA + 0x1000, true, ASID) == RmpCodes.SUCCESS, "assign x");
            expect(update(rmp, x, 0, false, 0) == RmpCodes.SUCCESS, "return x");
        }, () -> expect(update(rmp, y, GPA + 0x2000, true, other) == RmpCodes.SUCCESS, "assign y"), () -> {
            long a = rmp.assignedPages(ASID), b = rmp.assignedPages(other);
            expect(a == 0 || a == 1, "ASID 1 counted " + a + " frames");
            expect(b == 0 || b == 1, "ASID 2 counted " + b + " frames");
        });
        expect(rmp.assignedPages(ASID) == 0, "ASID 1 counted " + rmp.assignedPages(ASID) + " at the end");
        expect(rmp.assignedPages(other) == 1, "ASID 2 counted " + rmp.assignedPages(other) + " at the end");
        List<String> broken = rmp.check();
        expect(broken.isEmpty(), "RMP invariants: " + broken);
    }

    /**
     * Two CPUs grant higher VMPLs permissions on two pages of one region (RMPADJUST: high qwords of neither common
     * value, kept in the region's own array, which the first makes) while a third reads both pages' permissions
     * without a lock: VMPL0 keeps its full permissions throughout, so a reader that sees the word say "a high qword of
     * its own" must read that qword as written. (The word written before the qword passed 100 iterations: Fray does not
     * switch threads between two VarHandle stores, as {@link #assignedCountsOfTwoAsidsInOneStripe} found for plain
     * races; this checks the grants and the array's making under the instructions' interleavings, and RmpTest the
     * values.)
     */
    @ConcurrencyTest(iterations = 100)
    void grantsKeptApartUnderLockFreeReaders() throws Exception {
        Rmp rmp = new Rmp(2 * REGION, RmpCodes.DEFAULT);
        long x = REGION + 2, y = REGION + 3;
        for (long pfn : new long[] { x, y }) {
            long gpa = GPA + ((pfn - REGION) << 12);
            expect(update(rmp, pfn, gpa, true, ASID) == RmpCodes.SUCCESS, "assign");
            expect(rmp.pvalidate(pfn, gpa, RmpEntry.SIZE_4K, true, ASID) == RmpCodes.SUCCESS, "validate");
        }
        long[] grants = { 1 | (long) RmpEntry.PERM_R << 8, 2 | (long) RmpEntry.PERM_W << 8 };
        Lab.parallel(() -> expect(rmp.rmpadjust(x, GPA + 0x2000, RmpEntry.SIZE_4K, 0, grants[0], ASID) == 0, "x"),
                () -> expect(rmp.rmpadjust(y, GPA + 0x3000, RmpEntry.SIZE_4K, 0, grants[1], ASID) == 0, "y"),
                () -> {
                    for (long pfn : new long[] { x, y, x, y })
                        expect(RmpEntry.perms(rmp.hi(pfn), 0) == RmpEntry.PERM_ALL, "frame 0x"
                                + Long.toHexString(pfn) + " read with VMPL0 permissions 0x"
                                + Integer.toHexString(RmpEntry.perms(rmp.hi(pfn), 0)));
                });
        expect(RmpEntry.perms(rmp.hi(x), 1) == RmpEntry.PERM_R && RmpEntry.perms(rmp.hi(y), 2) == RmpEntry.PERM_W,
                "grants: 0x" + Long.toHexString(rmp.hi(x)) + ", 0x" + Long.toHexString(rmp.hi(y)));
        expect(RmpEntry.perms(rmp.hi(x), 0) == RmpEntry.PERM_ALL && RmpEntry.perms(rmp.hi(y), 0) == RmpEntry.PERM_ALL,
                "VMPL0 permissions lost");
        List<String> broken = rmp.check();
        expect(broken.isEmpty(), "RMP invariants: " + broken);
    }
}
