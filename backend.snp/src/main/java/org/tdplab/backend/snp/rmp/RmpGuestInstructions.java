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
 * The RMP as an SNP guest meets it: PVALIDATE and RMPADJUST, the checks after the nested walk of its accesses, and
 * the host-write check, on the entries {@link Rmp} stores.
 */
final class RmpGuestInstructions {
    private final Rmp rmp;

    RmpGuestInstructions(Rmp rmp) {
        this.rmp = rmp;
    }

    // ---- guest instructions ----------------------------------------------------------------------------------

    /**
     * PVALIDATE by the guest of {@code asid} on the page at {@code gpa}, which its nested walk translated to
     * {@code pfn}: sets ({@code validate}) or clears Validated of the 4K or 2M RMP page.
     *
     * @return EAX 0 with CF 0 (changed) or CF 1 (already so: NOUPDATE); {@code FAIL_INPUT} for a bad size or a GPA not
     *     aligned to it; {@code FAIL_SIZEMISMATCH} for a 2M request on 4K entries; an NPF with the RMP bit when the
     *     page is not covered, not this guest's, assigned at another GPA or immutable (the exact bits are unverified),
     *     with SIZEM added for a 4K request on a 2M entry
     */
    long pvalidate(long pfn, long gpa, int pageSize, boolean validate, int asid) {
        if (pageSize != SIZE_4K && pageSize != SIZE_2M || (gpa & (pageSize == SIZE_2M ? Rmp.MASK_2M : 0xfff)) != 0
                || (gpa & ~GPA_MASK) != 0)
            return GuestResult.ret(rmp.codes.failInput());
        int stripe = rmp.lock(pfn);
        try {
            return pvalidateLocked(pfn, gpa, pageSize, validate, asid); // apart: one copy of the unlock, not three
        } finally {
            rmp.stripes.unlock(stripe);
        }
    }

    /** The index in region {@code r} of the entry that governs {@code pfn}: the head's in a 2M-assigned region. */
    private static int entryAt(RmpRegion r, long pfn) {
        long h = Rmp.loIn(r, 0);
        return assigned(h) && is2M(h) ? 0 : Rmp.index(pfn);
    }

    /** {@link #pvalidate} once the operands passed and the region's lock is held. */
    private long pvalidateLocked(long pfn, long gpa, int pageSize, boolean validate, int asid) {
        // the region once, under its lock: the checks, the entry and the write all read this one
        RmpRegion r = rmp.region(pfn);
        int at = entryAt(r, pfn);
        long a = (pfn & ~(Rmp.PAGES - 1L)) + at, e = Rmp.loIn(r, at);
        long refused = guestChecks(pfn, gpa, pageSize, asid, a, e);
        if (refused != Long.MAX_VALUE)
            return refused;
        if (validated(e) == validate)
            return GuestResult.noUpdate();
        long hi = Rmp.hiIn(r, at); // a is the target: a 2M request passed only with a == pfn
        rmp.write(r, a, e, hi, validate ? e | VALIDATED : e & ~VALIDATED, hi, Rmp.BY_PVALIDATE);
        return GuestResult.ret(RmpCodes.SUCCESS);
    }

    /**
     * RMPADJUST by the guest of {@code asid} running at {@code callerVmpl}: sets the permissions of a higher VMPL
     * (and, from VMPL0 only, the VMSA bit) on the page at {@code gpa}. {@code attrs} is RDX: bits 7:0 the target
     * VMPL, bits 12:8 the permissions (R, W, X-user, X-supervisor, SSS; the SSS position is unverified), bit 16 VMSA.
     *
     * @return EAX 0; {@code FAIL_INPUT} for a bad size, GPA, VMPL or reserved attribute bits; the NPFs and
     *     {@code FAIL_SIZEMISMATCH} of {@link Rmp#pvalidate}; {@code FAIL_PERMISSION} when the target VMPL is not above
     *     the caller's, the grant exceeds the caller's own permissions, or the page is not validated (the last case's
     *     code is unverified)
     */
    long rmpadjust(long pfn, long gpa, int pageSize, int callerVmpl, long attrs, int asid) {
        int target = (int) (attrs & 0xff), perms = (int) (attrs >>> 8) & 0x1f;
        boolean vmsa = (attrs & (1L << 16)) != 0;
        if (pageSize != SIZE_4K && pageSize != SIZE_2M || (gpa & (pageSize == SIZE_2M ? Rmp.MASK_2M : 0xfff)) != 0
                || (gpa & ~GPA_MASK) != 0 || target >= VMPLS || callerVmpl < 0 || callerVmpl >= VMPLS
                || (attrs & ~(0xffL | 0x1fL << 8 | 1L << 16)) != 0)
            return GuestResult.ret(rmp.codes.failInput());
        int stripe = rmp.lock(pfn);
        try {
            RmpRegion r = rmp.region(pfn);
            int at = entryAt(r, pfn);
            long where = (pfn & ~(Rmp.PAGES - 1L)) + at, e = Rmp.loIn(r, at);
            long refused = guestChecks(pfn, gpa, pageSize, asid, where, e);
            if (refused != Long.MAX_VALUE)
                return refused;
            long h = Rmp.hiIn(r, at);
            if (target <= callerVmpl || (perms & ~RmpEntry.perms(h, callerVmpl)) != 0 || !validated(e))
                return GuestResult.ret(rmp.codes.failPermission());
            long lo = callerVmpl != 0 ? e : vmsa ? e | VMSA : e & ~VMSA; // from VMPL1+ the VMSA bit is ignored
            rmp.write(r, where, e, h, lo, RmpEntry.withPerms(h, target, perms), Rmp.BY_RMPADJUST);
            return GuestResult.ret(RmpCodes.SUCCESS);
        } finally {
            rmp.stripes.unlock(stripe);
        }
    }

    /**
     * The checks PVALIDATE and RMPADJUST share, in the access-check order: RMP-covered, guest-owned, reverse map,
     * mutable (all an NPF with the RMP bit), then the page size. {@code a} is the governing frame
     * ({@link Rmp#authority}) and {@code e} its low qword, as the caller read them. {@link Long#MAX_VALUE} when all
     * pass; then {@code a} is the entry to change (for a 2M request, {@code pfn} itself).
     */
    private long guestChecks(long pfn, long gpa, int pageSize, int asid, long a, long e) {
        if (pfn < 0 || pfn >= rmp.frames)
            return GuestResult.npf(Rmp.NPF_RMP);
        if (pageSize == SIZE_2M) {
            // the entry that governs the translated frame: a 4K entry there (the frame need not be 2M-aligned, as
            // with 4K guest_memfd folios) is a size mismatch once the page is this guest's at this GPA
            if (!assigned(e) || asid(e) != asid)
                return GuestResult.npf(Rmp.NPF_RMP);
            if (a != pfn || gpa(e) != gpa)
                return GuestResult.npf(Rmp.NPF_RMP);
            if (immutable(e))
                return GuestResult.npf(Rmp.NPF_RMP);
            return is2M(e) ? Long.MAX_VALUE : GuestResult.ret(rmp.codes.failSizeMismatch());
        }
        if (!assigned(e) || asid(e) != asid)
            return GuestResult.npf(Rmp.NPF_RMP);
        if (gpa(e) + ((pfn - a) << 12) != gpa)
            return GuestResult.npf(Rmp.NPF_RMP);
        if (immutable(e))
            return GuestResult.npf(Rmp.NPF_RMP);
        return is2M(e) ? GuestResult.npf(Rmp.NPF_RMP | Pferr.GUEST_SIZEM) : Long.MAX_VALUE;
    }

    // ---- access checks ---------------------------------------------------------------------------------------

    /**
     * The RMP checks after the nested walk of an SNP guest's access (APM Table 15-39, in priority order).
     * {@code gpa} is the translated GPA, {@code nptLevel} the level of the nested leaf. Allocation-free.
     *
     * @return {@link Rmp#ACCESS_OK}; {@link Rmp#ACCESS_VC} when the page is not validated (#VC 0x404); otherwise the
     *     NPF error bits: with the C-bit, RMP-covered, guest-owned, reverse map, mutable and page size (a 2M+ nested
     *     leaf needs a 2M entry, a 4K leaf a 4K one) give the RMP bit, a VMPL permission the VMPL bit; without the
     *     C-bit only writes are checked, and they need a hypervisor-owned page. (The hardware treats every instruction
     *     fetch and guest page-table access as C=1; the caller passes the access's own encoding instead, because
     *     KVM's fault handler decides privateness from that same bit.)
     */
    long accessCheck(long pfn, long gpa, int nptLevel, int asid, boolean encrypted, boolean write,
            boolean exec, int vmpl) {
        if (!encrypted)
            return write && rmp.isAssigned(pfn) ? Pferr.GUEST_RMP | Pferr.GUEST_FINAL : Rmp.ACCESS_OK;
        if (pfn < 0 || pfn >= rmp.frames)
            return Rmp.NPF_RMP;
        long head = pfn & ~(Rmp.PAGES - 1L);
        RmpRegion r = rmp.region(pfn); // one look-up for both entries and the permissions: they share it
        long h = Rmp.loIn(r, 0);
        boolean big = assigned(h) && is2M(h);
        int at = big ? 0 : Rmp.index(pfn);
        long where = head + at;
        long e = big ? h : Rmp.loIn(r, at);
        if (!assigned(e) || asid(e) != asid)
            return Rmp.NPF_RMP;
        if (gpa(e) + ((pfn - where) << 12) != gpa)
            return Rmp.NPF_RMP;
        if (immutable(e))
            return Rmp.NPF_RMP;
        if (nptLevel > 1 != big)
            return Rmp.NPF_RMP;
        if (!validated(e))
            return Rmp.ACCESS_VC;
        int perms = RmpEntry.perms(Rmp.hiIn(r, at), vmpl);
        boolean allowed = exec ? (perms & (PERM_XU | PERM_XS)) != 0
                : (perms & PERM_R) != 0 && (!write || (perms & PERM_W) != 0);
        return allowed ? Rmp.ACCESS_OK : Rmp.NPF_RMP & ~Pferr.GUEST_RMP | Pferr.GUEST_VMPL;
    }

    /**
     * The host-side check of a host write through a mapping of {@code hostLevel} (1 = 4K): true when it raises #PF
     * with the RMP bit. A 2M or 1G host mapping needs every 4K entry of the 2M region hypervisor-owned (1G is treated
     * as 2M). Memory the RMP does not cover is hypervisor-owned.
     */
    boolean hostWriteFaults(long pfn, int hostLevel) {
        if (pfn < 0 || pfn >= rmp.frames)
            return false;
        if (hostLevel <= 1)
            return rmp.isAssigned(pfn);
        long head = pfn & ~(Rmp.PAGES - 1L);
        for (int i = 0; i < Rmp.PAGES; i++)
            if (assigned(rmp.lo(head + i)))
                return true;
        return false;
    }
}
