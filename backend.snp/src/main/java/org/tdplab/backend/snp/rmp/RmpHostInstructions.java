package org.tdplab.backend.snp.rmp;

import static org.tdplab.backend.snp.rmp.RmpEntry.ASSIGNED;
import static org.tdplab.backend.snp.rmp.RmpEntry.GPA_MASK;
import static org.tdplab.backend.snp.rmp.RmpEntry.IMMUTABLE;
import static org.tdplab.backend.snp.rmp.RmpEntry.MAX_ASID;
import static org.tdplab.backend.snp.rmp.RmpEntry.PAGE_SIZE;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_ALL;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_R;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_W;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_XS;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_XU;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;
import static org.tdplab.backend.snp.rmp.RmpEntry.VALIDATED;
import static org.tdplab.backend.snp.rmp.RmpEntry.VMPLS;
import static org.tdplab.backend.snp.rmp.RmpEntry.VMSA;
import static org.tdplab.backend.snp.rmp.RmpEntry.asid;
import static org.tdplab.backend.snp.rmp.RmpEntry.assigned;
import static org.tdplab.backend.snp.rmp.RmpEntry.gpa;
import static org.tdplab.backend.snp.rmp.RmpEntry.immutable;
import static org.tdplab.backend.snp.rmp.RmpEntry.is2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.validated;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The RMP instructions of the host: RMPUPDATE and PSMASH (hypervisor), and the RMP effect of the AMD-SP commands
 * KVM uses (SNP_LAUNCH_UPDATE, SNP_PAGE_RECLAIM), on the entries {@link Rmp} stores.
 */
final class RmpHostInstructions {
    private final Rmp rmp;

    RmpHostInstructions(Rmp rmp) {
        this.rmp = rmp;
    }

    // ---- hypervisor instructions ---------------------------------------------------------------------------

    /**
     * RMPUPDATE: writes {@code pfn}'s entry (the 2M entry at a 2M-aligned {@code pfn} when {@code pageSize} is 2M).
     * Validated and VMSA are cleared (VMSA clearing unverified); assigning to a guest gives VMPL0 every permission and
     * the other VMPLs none.
     *
     * @return {@link RmpCodes#SUCCESS}; {@code FAIL_INPUT} for a frame the RMP does not cover, bad alignment or
     *     reserved values (an unassigned state with an ASID, a GPA or Immutable; unverified); {@code FAIL_PERMISSION}
     *     when the entry is immutable; {@code FAIL_INUSE} for a page of a running VMRUN; {@code FAIL_OVERLAP} for a 4K
     *     update inside an assigned 2M entry, a 2M update over assigned 4K entries, or a concurrent update of the 2M
     *     region (Linux retries)
     */
    int rmpupdate(long pfn, long gpa, boolean assigned, int pageSize, boolean immutable, int asid) {
        if (badInput(pfn, gpa, assigned, pageSize, immutable, asid))
            return rmp.codes.failInput();
        int stripe = Rmp.stripeOf(pfn);
        if (!rmp.stripes.tryLock(stripe))
            return rmp.codes.failOverlap(); // another CPU is updating this 2M region
        // the body apart: a try-finally copies the unlock to every return, which made this too big to inline
        try {
            return updateLocked(stripe, pfn, gpa, assigned, pageSize, immutable, asid);
        } finally {
            rmp.stripes.unlock(stripe);
        }
    }

    /** {@link #rmpupdate} once the operands passed and the region's lock ({@code stripe}) is held. */
    private int updateLocked(int stripe, long pfn, long gpa, boolean assigned, int pageSize, boolean immutable,
            int asid) {
        boolean big = pageSize == SIZE_2M;
        RmpRegion r = rmp.region(pfn); // once, under its lock: the checks and the write read this one
        int at = Rmp.index(pfn);
        long old = Rmp.loIn(r, at);
        if (immutable(old))
            return rmp.codes.failPermission();
        if (rmp.anyInUse(pfn, big ? Rmp.PAGES : 1))
            return rmp.codes.failInuse();
        if (!big) {
            long h = Rmp.loIn(r, 0);
            if (assigned(h) && is2M(h))
                return rmp.codes.failOverlap();
        } else if (overlaps4k(r, old)) {
            return rmp.codes.failOverlap();
        }
        long lo = RmpEntry.lo(gpa, assigned, pageSize, immutable, asid);
        long hi = assigned && asid != 0 ? RmpEntry.withPerms(0, 0, PERM_ALL) : 0;
        rmp.assignedCounts.account(stripe, old, -1);
        rmp.assignedCounts.account(stripe, lo, +1);
        rmp.write(r, pfn, old, Rmp.hiIn(r, at), lo, hi, Rmp.BY_RMPUPDATE);
        return RmpCodes.SUCCESS;
    }

    /** RMPUPDATE's operand checks: whether they fail ({@code FAIL_INPUT}). */
    private boolean badInput(long pfn, long gpa, boolean assigned, int pageSize, boolean immutable, int asid) {
        boolean big = pageSize == SIZE_2M;
        return pfn < 0 || pfn >= rmp.frames || pageSize != SIZE_4K && !big || big && (pfn & (Rmp.PAGES - 1)) != 0
                || (gpa & ~GPA_MASK) != 0 || asid < 0 || asid > MAX_ASID || assigned && big && (gpa & Rmp.MASK_2M) != 0
                || !assigned && (asid != 0 || gpa != 0 || immutable);
    }

    /** Whether a 2M update of region {@code r}, whose aligned entry is {@code head}, meets an assigned 4K entry. */
    private static boolean overlaps4k(RmpRegion r, long head) {
        if (assigned(head) && !is2M(head))
            return true;
        for (int i = 1; i < Rmp.PAGES; i++)
            if (assigned(Rmp.loIn(r, i)))
                return true;
        return false;
    }

    /**
     * PSMASH: splits the 2M entry at the 2M-aligned {@code pfn} into 512 4K entries, each with GPA = base + i·4K and
     * every other field (Assigned, ASID, Immutable, Validated, VMSA, permissions) copied.
     *
     * @return {@link RmpCodes#SUCCESS}; {@code FAIL_INPUT} (value and conditions unverified) when {@code pfn} is not
     *     covered, not 2M-aligned, or its entry is not a 2M entry; {@code PSMASH_FAIL_INUSE} when another CPU is
     *     using or modifying the entry (Linux retries)
     */
    int psmash(long pfn) {
        if (pfn < 0 || pfn >= rmp.frames || (pfn & (Rmp.PAGES - 1)) != 0)
            return rmp.codes.failInput();
        int stripe = Rmp.stripeOf(pfn);
        if (!rmp.stripes.tryLock(stripe))
            return rmp.codes.failInuse();
        try {
            long h = rmp.lo(pfn), hh = rmp.hi(pfn);
            if (!is2M(h))
                return rmp.codes.failInput();
            if (rmp.anyInUse(pfn, Rmp.PAGES))
                return rmp.codes.failInuse();
            boolean owned = assigned(h);
            long base = gpa(h), keep = h & ~(PAGE_SIZE | GPA_MASK);
            // the aligned entry last: until it turns 4K it governs the whole region for lock-free readers
            for (int i = Rmp.PAGES - 1; i >= 0; i--)
                rmp.write(pfn + i, keep | (owned ? base + ((long) i << 12) : 0), hh, Rmp.BY_PSMASH);
            return RmpCodes.SUCCESS; // 512 frames of the same owner before and after: no accounting change
        } finally {
            rmp.stripes.unlock(stripe);
        }
    }

    // ---- AMD-SP (firmware) -----------------------------------------------------------------------------------

    /**
     * SNP_LAUNCH_UPDATE's effect on the RMP: a pre-guest page (4K, assigned to {@code asid}, immutable) is measured
     * and becomes guest-valid — Validated set, Immutable cleared (KVM returns such pages with a plain RMPUPDATE, no
     * reclaim) — and a VMSA page gets the VMSA bit. False when the page is not in the pre-guest state.
     */
    boolean firmwareLaunchUpdate(long pfn, int asid, boolean vmsa) {
        int stripe = rmp.lock(pfn);
        try {
            long e = rmp.lo(pfn);
            if (!assigned(e) || is2M(e) || !immutable(e) || asid(e) != asid || rmp.authority(pfn) != pfn)
                return false;
            rmp.write(pfn, (e & ~IMMUTABLE) | VALIDATED | (vmsa ? VMSA : 0), rmp.hi(pfn), Rmp.BY_FIRMWARE);
            return true;
        } finally {
            rmp.stripes.unlock(stripe);
        }
    }

    /**
     * SNP_PAGE_RECLAIM's effect: an immutable page (firmware, context or pre-guest) becomes reclaimable — assigned to
     * no guest (ASID 0), mutable, not validated — so that RMPUPDATE can return it to the hypervisor (the exact
     * "reclaim" state is unverified). False when the page is not immutable.
     */
    boolean firmwareReclaim(long pfn) {
        int stripe = rmp.lock(pfn);
        try {
            long e = rmp.lo(pfn);
            if (!immutable(e) || rmp.authority(pfn) != pfn)
                return false;
            long lo = e & (ASSIGNED | PAGE_SIZE);
            rmp.assignedCounts.account(stripe, e, -1);
            rmp.assignedCounts.account(stripe, lo, +1);
            rmp.write(pfn, lo, 0, Rmp.BY_FIRMWARE);
            return true;
        } finally {
            rmp.stripes.unlock(stripe);
        }
    }
}
