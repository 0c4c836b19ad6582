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
import java.util.concurrent.locks.ReentrantLock;

/**
 * The Reverse Map Table of one host: one 16-byte entry per 4K system-physical frame, and the instructions that
 * change it — RMPUPDATE and PSMASH (hypervisor), PVALIDATE and RMPADJUST (SNP guest) — plus the RMP effect of the
 * AMD-SP commands KVM uses (SNP_LAUNCH_UPDATE, SNP_PAGE_RECLAIM) and the checks the hardware applies to memory
 * accesses (the nested-walk checks of an SNP guest, the host-write check).
 *
 * <p>Storage is sparse and packed like the hardware's table: one 8 KiB block of {@code long}s (low and high qword
 * per entry) per 2M region that has a non-zero entry, created on first write and dropped when the region is all
 * zero again. Reads are lock-free and allocation-free. Each instruction runs under its 2M region's lock, like the
 * hardware's per-entry atomicity; RMPUPDATE and PSMASH do not wait for it but fail as the hardware does under
 * contention ({@code FAIL_OVERLAP} / {@code FAIL_INUSE}), and callers retry as Linux does. Preconditions are
 * checked in the order of the hardware spec's tables, so the first failing row decides the return code.
 *
 * <p>The 2M-aligned entry of a 2M assigned region governs the whole 2 MiB (Linux reads the page size from the
 * aligned entry); whether the hardware also mirrors Assigned into the 511 other entries is not in the sources read
 * (unverified), so the model leaves them zero and treats the aligned entry as authoritative.
 */
public final class Rmp {
    /** Frames of the 64 GiB host space the core simulates by default. */
    public static final long DEFAULT_FRAMES = (64L << 30) >>> 12;

    /** Who last wrote an entry: for the invariants that Validated comes only from PVALIDATE or the firmware. */
    public static final byte BY_RMPUPDATE = 1, BY_PSMASH = 2, BY_PVALIDATE = 3, BY_RMPADJUST = 4, BY_FIRMWARE = 5;

    /** {@link #accessCheck} outcomes besides NPF error bits (which are positive). */
    public static final long ACCESS_OK = 0, ACCESS_VC = -1;

    /** #VC error code of an access to a page that is not validated ({@code PAGE_NOT_VALIDATED}). */
    public static final int VC_PAGE_NOT_VALIDATED = 0x404;

    private static final int PAGES = 512;
    private static final int STRIPES = 4096;
    private static final long MASK_2M = (2L << 20) - 1;
    /** Error bits of an RMP violation on an encrypted final translation; which of them PVALIDATE sets is unverified. */
    private static final long NPF_RMP = Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC;

    /** The entries of one 2M region: low, high qword per frame, as the hardware lays them out. */
    private static final class Region {
        final AtomicLongArray words = new AtomicLongArray(2 * PAGES);
        /** Who last wrote each entry; written under the region lock. */
        final byte[] writer = new byte[PAGES];
        /** Entries that are not all zero; under the region lock. */
        int nonZero;
    }

    private final long frames;
    private final RmpCodes codes;
    private final AtomicReferenceArray<Region> regions;
    private final ReentrantLock[] locks = new ReentrantLock[STRIPES];
    /** Assigned 4K frames per ASID (a 2M entry counts 512), for the teardown check. */
    private final AtomicLongArray assignedPages = new AtomicLongArray(MAX_ASID + 1);
    /** Frames a running VMRUN uses (VMCB, VMSA, AVIC backing page). */
    private final Set<Long> inUse = ConcurrentHashMap.newKeySet();
    /** XOR of a hash of every non-zero entry, kept by each write: a change that bypassed the instructions shows. */
    private final AtomicLong digest = new AtomicLong();

    public Rmp() {
        this(DEFAULT_FRAMES, RmpCodes.DEFAULT);
    }

    /** An RMP covering frames {@code [0, frames)}; frames beyond it count as permanently hypervisor-owned. */
    public Rmp(long frames, RmpCodes codes) {
        if (frames <= 0 || (frames & (PAGES - 1)) != 0 || frames > (long) Integer.MAX_VALUE * PAGES)
            throw new IllegalArgumentException("frames=" + frames + ": must be a positive multiple of 512");
        this.frames = frames;
        this.codes = codes;
        this.regions = new AtomicReferenceArray<>((int) (frames / PAGES));
        for (int i = 0; i < STRIPES; i++)
            locks[i] = new ReentrantLock();
    }

    public long frames() {
        return frames;
    }

    public RmpCodes codes() {
        return codes;
    }

    // ---- reads (lock-free, allocation-free) ----------------------------------------------------------------

    /** The low qword of {@code pfn}'s own entry; 0 beyond the covered range. */
    public long lo(long pfn) {
        Region r = pfn >= 0 && pfn < frames ? regions.get((int) (pfn >>> 9)) : null;
        return r == null ? 0 : r.words.get(2 * (int) (pfn & (PAGES - 1)));
    }

    /** The high qword (VMPL permissions) of {@code pfn}'s own entry. */
    public long hi(long pfn) {
        Region r = pfn >= 0 && pfn < frames ? regions.get((int) (pfn >>> 9)) : null;
        return r == null ? 0 : r.words.get(2 * (int) (pfn & (PAGES - 1)) + 1);
    }

    /** The entry that governs {@code pfn}: its 2M-aligned entry when that is an assigned 2M entry, else its own. */
    public long authority(long pfn) {
        long head = pfn & ~(PAGES - 1L);
        long h = lo(head);
        return assigned(h) && is2M(h) ? head : pfn;
    }

    public boolean isAssigned(long pfn) {
        return RmpEntry.assigned(lo(authority(pfn)));
    }

    /** The ASID owning {@code pfn} (0 for the hypervisor and the AMD-SP). */
    public int asidOf(long pfn) {
        return asid(lo(authority(pfn)));
    }

    /** The GPA {@code pfn} is assigned at: the governing entry's GPA plus the offset inside a 2M entry. */
    public long gpaOf(long pfn) {
        long a = authority(pfn);
        return gpa(lo(a)) + ((pfn - a) << 12);
    }

    public boolean validatedOf(long pfn) {
        return validated(lo(authority(pfn)));
    }

    /**
     * The size of the RMP page {@code pfn} belongs to as a mapping level (1 = 4K, 2 = 2M), 0 when unassigned:
     * {@code snp_lookup_rmpentry}'s level for an assigned page.
     */
    public int privateLevel(long pfn) {
        long e = lo(authority(pfn));
        return !assigned(e) ? 0 : is2M(e) ? 2 : 1;
    }

    /** Assigned 4K frames of an ASID. */
    public long assignedPages(int asid) {
        return assignedPages.get(asid);
    }

    /** Assigned 4K frames of every owner (guests and the AMD-SP). */
    public long assignedPages() {
        long n = 0;
        for (int a = 0; a <= MAX_ASID; a++)
            n += assignedPages.get(a);
        return n;
    }

    /** Visits every assigned entry of {@code asid} (a 2M page once, at its aligned frame), in frame order. */
    public void forEachAssigned(int asid, java.util.function.LongConsumer visitor) {
        for (int ri = 0; ri < regions.length(); ri++) {
            if (regions.get(ri) == null)
                continue;
            for (int i = 0; i < PAGES; i++) {
                long pfn = (long) ri * PAGES + i, e = lo(pfn);
                if (assigned(e) && asid(e) == asid)
                    visitor.accept(pfn);
            }
        }
    }

    /** Up to {@code limit} frames whose governing entry is assigned to {@code asid}, for messages. */
    public List<Long> assignedFrames(int asid, int limit) {
        List<Long> out = new ArrayList<>();
        for (int ri = 0; ri < regions.length() && out.size() < limit; ri++) {
            if (regions.get(ri) == null)
                continue;
            for (int i = 0; i < PAGES && out.size() < limit; i++) {
                long pfn = (long) ri * PAGES + i;
                long e = lo(pfn);
                if (assigned(e) && asid(e) == asid)
                    out.add(pfn);
            }
        }
        return out;
    }

    // ---- hot swap ---------------------------------------------------------------------------------------------

    /**
     * The entries a VM's state depends on, as {pfn, lo, hi, writer} quadruples: every entry assigned to
     * {@code asid}, and the entries of {@code extra} frames (its firmware pages).
     */
    public long[] export(int asid, long... extra) {
        java.util.Set<Long> extras = new java.util.HashSet<>();
        for (long e : extra)
            extras.add(e);
        long[] out = new long[64];
        int n = 0;
        for (int ri = 0; ri < regions.length(); ri++) {
            Region r = regions.get(ri);
            if (r == null)
                continue;
            for (int i = 0; i < PAGES; i++) {
                long pfn = (long) ri * PAGES + i, lo = r.words.get(2 * i);
                if (!(assigned(lo) && asid(lo) == asid) && !extras.contains(pfn))
                    continue;
                if (n + 4 > out.length)
                    out = java.util.Arrays.copyOf(out, out.length * 2);
                out[n++] = pfn;
                out[n++] = lo;
                out[n++] = r.words.get(2 * i + 1);
                out[n++] = r.writer[i];
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** Writes back entries {@link #export} gave (of another RMP object standing for the same hardware). */
    public void restore(long[] entries) {
        for (int k = 0; k + 3 < entries.length; k += 4) {
            long pfn = entries[k];
            if (pfn < 0 || pfn >= frames)
                throw new IllegalArgumentException("RMP entry for frame 0x" + Long.toHexString(pfn)
                        + " outside the RMP");
            ReentrantLock lock = lockOf(pfn);
            lock.lock();
            try {
                account(lo(pfn), -1);
                account(entries[k + 1], +1);
                write(pfn, entries[k + 1], entries[k + 2], (byte) entries[k + 3]);
            } finally {
                lock.unlock();
            }
        }
    }

    /** Marks a frame as used by a running VMRUN (VMCB, VMSA, AVIC backing page): RMPUPDATE then fails. */
    public void setInUse(long pfn, boolean used) {
        if (used)
            inUse.add(pfn);
        else
            inUse.remove(pfn);
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
    public int rmpupdate(long pfn, long gpa, boolean assigned, int pageSize, boolean immutable, int asid) {
        boolean big = pageSize == SIZE_2M;
        if (pfn < 0 || pfn >= frames || pageSize != SIZE_4K && !big || big && (pfn & (PAGES - 1)) != 0
                || (gpa & ~GPA_MASK) != 0 || asid < 0 || asid > MAX_ASID || assigned && big && (gpa & MASK_2M) != 0
                || !assigned && (asid != 0 || gpa != 0 || immutable))
            return codes.failInput();
        ReentrantLock lock = lockOf(pfn);
        if (!lock.tryLock())
            return codes.failOverlap(); // another CPU is updating this 2M region
        try {
            long old = lo(pfn);
            if (immutable(old))
                return codes.failPermission();
            if (anyInUse(pfn, big ? PAGES : 1))
                return codes.failInuse();
            long head = pfn & ~(PAGES - 1L);
            if (!big) {
                long h = lo(head);
                if (assigned(h) && is2M(h))
                    return codes.failOverlap();
            } else {
                if (assigned(old) && !is2M(old))
                    return codes.failOverlap();
                for (int i = 1; i < PAGES; i++)
                    if (assigned(lo(head + i)))
                        return codes.failOverlap();
            }
            long lo = RmpEntry.lo(gpa, assigned, pageSize, immutable, asid);
            long hi = assigned && asid != 0 ? RmpEntry.withPerms(0, 0, PERM_ALL) : 0;
            account(old, -1);
            account(lo, +1);
            write(pfn, lo, hi, BY_RMPUPDATE);
            return RmpCodes.SUCCESS;
        } finally {
            lock.unlock();
        }
    }

    /**
     * PSMASH: splits the 2M entry at the 2M-aligned {@code pfn} into 512 4K entries, each with GPA = base + i·4K and
     * every other field (Assigned, ASID, Immutable, Validated, VMSA, permissions) copied.
     *
     * @return {@link RmpCodes#SUCCESS}; {@code FAIL_INPUT} (value and conditions unverified) when {@code pfn} is not
     *     covered, not 2M-aligned, or its entry is not a 2M entry; {@code PSMASH_FAIL_INUSE} when another CPU is
     *     using or modifying the entry (Linux retries)
     */
    public int psmash(long pfn) {
        if (pfn < 0 || pfn >= frames || (pfn & (PAGES - 1)) != 0)
            return codes.failInput();
        ReentrantLock lock = lockOf(pfn);
        if (!lock.tryLock())
            return codes.failInuse();
        try {
            long h = lo(pfn), hh = hi(pfn);
            if (!is2M(h))
                return codes.failInput();
            if (anyInUse(pfn, PAGES))
                return codes.failInuse();
            boolean owned = assigned(h);
            long base = gpa(h), keep = h & ~(PAGE_SIZE | GPA_MASK);
            // the aligned entry last: until it turns 4K it governs the whole region for lock-free readers
            for (int i = PAGES - 1; i >= 0; i--)
                write(pfn + i, keep | (owned ? base + ((long) i << 12) : 0), hh, BY_PSMASH);
            return RmpCodes.SUCCESS; // 512 frames of the same owner before and after: no accounting change
        } finally {
            lock.unlock();
        }
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
    public long pvalidate(long pfn, long gpa, int pageSize, boolean validate, int asid) {
        if (pageSize != SIZE_4K && pageSize != SIZE_2M || (gpa & (pageSize == SIZE_2M ? MASK_2M : 0xfff)) != 0
                || (gpa & ~GPA_MASK) != 0)
            return GuestResult.ret(codes.failInput());
        ReentrantLock lock = lockOf(pfn);
        lock.lock();
        try {
            long refused = guestChecks(pfn, gpa, pageSize, asid);
            if (refused != Long.MAX_VALUE)
                return refused;
            long target = pageSize == SIZE_2M ? pfn : authority(pfn);
            long e = lo(target);
            if (validated(e) == validate)
                return GuestResult.noUpdate();
            write(target, validate ? e | VALIDATED : e & ~VALIDATED, hi(target), BY_PVALIDATE);
            return GuestResult.ret(RmpCodes.SUCCESS);
        } finally {
            lock.unlock();
        }
    }

    /**
     * RMPADJUST by the guest of {@code asid} running at {@code callerVmpl}: sets the permissions of a higher VMPL
     * (and, from VMPL0 only, the VMSA bit) on the page at {@code gpa}. {@code attrs} is RDX: bits 7:0 the target
     * VMPL, bits 12:8 the permissions (R, W, X-user, X-supervisor, SSS; the SSS position is unverified), bit 16 VMSA.
     *
     * @return EAX 0; {@code FAIL_INPUT} for a bad size, GPA, VMPL or reserved attribute bits; the NPFs and
     *     {@code FAIL_SIZEMISMATCH} of {@link #pvalidate}; {@code FAIL_PERMISSION} when the target VMPL is not above
     *     the caller's, the grant exceeds the caller's own permissions, or the page is not validated (the last case's
     *     code is unverified)
     */
    public long rmpadjust(long pfn, long gpa, int pageSize, int callerVmpl, long attrs, int asid) {
        int target = (int) (attrs & 0xff), perms = (int) (attrs >>> 8) & 0x1f;
        boolean vmsa = (attrs & (1L << 16)) != 0;
        if (pageSize != SIZE_4K && pageSize != SIZE_2M || (gpa & (pageSize == SIZE_2M ? MASK_2M : 0xfff)) != 0
                || (gpa & ~GPA_MASK) != 0 || target >= VMPLS || callerVmpl < 0 || callerVmpl >= VMPLS
                || (attrs & ~(0xffL | 0x1fL << 8 | 1L << 16)) != 0)
            return GuestResult.ret(codes.failInput());
        ReentrantLock lock = lockOf(pfn);
        lock.lock();
        try {
            long refused = guestChecks(pfn, gpa, pageSize, asid);
            if (refused != Long.MAX_VALUE)
                return refused;
            long where = pageSize == SIZE_2M ? pfn : authority(pfn);
            long e = lo(where), h = hi(where);
            if (target <= callerVmpl || (perms & ~RmpEntry.perms(h, callerVmpl)) != 0 || !validated(e))
                return GuestResult.ret(codes.failPermission());
            long lo = callerVmpl != 0 ? e : vmsa ? e | VMSA : e & ~VMSA; // from VMPL1+ the VMSA bit is ignored
            write(where, lo, RmpEntry.withPerms(h, target, perms), BY_RMPADJUST);
            return GuestResult.ret(RmpCodes.SUCCESS);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The checks PVALIDATE and RMPADJUST share, in the access-check order: RMP-covered, guest-owned, reverse map,
     * mutable (all an NPF with the RMP bit), then the page size. {@link Long#MAX_VALUE} when all pass.
     */
    private long guestChecks(long pfn, long gpa, int pageSize, int asid) {
        if (pfn < 0 || pfn >= frames)
            return GuestResult.npf(NPF_RMP);
        if (pageSize == SIZE_2M) {
            long e = lo(pfn & ~(PAGES - 1L));
            if (!assigned(e) || asid(e) != asid)
                return GuestResult.npf(NPF_RMP);
            if ((pfn & (PAGES - 1)) != 0 || gpa(e) != gpa)
                return GuestResult.npf(NPF_RMP);
            if (immutable(e))
                return GuestResult.npf(NPF_RMP);
            return is2M(e) ? Long.MAX_VALUE : GuestResult.ret(codes.failSizeMismatch());
        }
        long a = authority(pfn), e = lo(a);
        if (!assigned(e) || asid(e) != asid)
            return GuestResult.npf(NPF_RMP);
        if (gpa(e) + ((pfn - a) << 12) != gpa)
            return GuestResult.npf(NPF_RMP);
        if (immutable(e))
            return GuestResult.npf(NPF_RMP);
        return is2M(e) ? GuestResult.npf(NPF_RMP | Pferr.GUEST_SIZEM) : Long.MAX_VALUE;
    }

    // ---- AMD-SP (firmware) -----------------------------------------------------------------------------------

    /**
     * SNP_LAUNCH_UPDATE's effect on the RMP: a pre-guest page (4K, assigned to {@code asid}, immutable) is measured
     * and becomes guest-valid — Validated set, Immutable cleared (KVM returns such pages with a plain RMPUPDATE, no
     * reclaim) — and a VMSA page gets the VMSA bit. False when the page is not in the pre-guest state.
     */
    public boolean firmwareLaunchUpdate(long pfn, int asid, boolean vmsa) {
        ReentrantLock lock = lockOf(pfn);
        lock.lock();
        try {
            long e = lo(pfn);
            if (!assigned(e) || is2M(e) || !immutable(e) || asid(e) != asid || authority(pfn) != pfn)
                return false;
            write(pfn, (e & ~IMMUTABLE) | VALIDATED | (vmsa ? VMSA : 0), hi(pfn), BY_FIRMWARE);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * SNP_PAGE_RECLAIM's effect: an immutable page (firmware, context or pre-guest) becomes reclaimable — assigned to
     * no guest (ASID 0), mutable, not validated — so that RMPUPDATE can return it to the hypervisor (the exact
     * "reclaim" state is unverified). False when the page is not immutable.
     */
    public boolean firmwareReclaim(long pfn) {
        ReentrantLock lock = lockOf(pfn);
        lock.lock();
        try {
            long e = lo(pfn);
            if (!immutable(e) || authority(pfn) != pfn)
                return false;
            long lo = e & (ASSIGNED | PAGE_SIZE);
            account(e, -1);
            account(lo, +1);
            write(pfn, lo, 0, BY_FIRMWARE);
            return true;
        } finally {
            lock.unlock();
        }
    }

    // ---- access checks ---------------------------------------------------------------------------------------

    /**
     * The RMP checks after the nested walk of an SNP guest's access (APM Table 15-39, in priority order).
     * {@code gpa} is the translated GPA, {@code nptLevel} the level of the nested leaf. Allocation-free.
     *
     * @return {@link #ACCESS_OK}; {@link #ACCESS_VC} when the page is not validated (#VC 0x404); otherwise the NPF
     *     error bits: with the C-bit, RMP-covered, guest-owned, reverse map, mutable and page size (a 2M+ nested leaf
     *     needs a 2M entry, a 4K leaf a 4K one) give the RMP bit, a VMPL permission the VMPL bit; without the C-bit
     *     only writes are checked, and they need a hypervisor-owned page. (The hardware treats every instruction
     *     fetch and guest page-table access as C=1; the caller passes the access's own encoding instead, because
     *     KVM's fault handler decides privateness from that same bit.)
     */
    public long accessCheck(long pfn, long gpa, int nptLevel, int asid, boolean encrypted, boolean write,
            boolean exec, int vmpl) {
        if (!encrypted)
            return write && isAssigned(pfn) ? Pferr.GUEST_RMP | Pferr.GUEST_FINAL : ACCESS_OK;
        if (pfn < 0 || pfn >= frames)
            return NPF_RMP;
        long head = pfn & ~(PAGES - 1L);
        long h = lo(head);
        boolean big = assigned(h) && is2M(h);
        long where = big ? head : pfn;
        long e = big ? h : lo(pfn);
        if (!assigned(e) || asid(e) != asid)
            return NPF_RMP;
        if (gpa(e) + ((pfn - where) << 12) != gpa)
            return NPF_RMP;
        if (immutable(e))
            return NPF_RMP;
        if (nptLevel > 1 != big)
            return NPF_RMP;
        if (!validated(e))
            return ACCESS_VC;
        int perms = RmpEntry.perms(hi(where), vmpl);
        boolean allowed = exec ? (perms & (PERM_XU | PERM_XS)) != 0
                : (perms & PERM_R) != 0 && (!write || (perms & PERM_W) != 0);
        return allowed ? ACCESS_OK : NPF_RMP & ~Pferr.GUEST_RMP | Pferr.GUEST_VMPL;
    }

    /**
     * The host-side check of a host write through a mapping of {@code hostLevel} (1 = 4K): true when it raises #PF
     * with the RMP bit. A 2M or 1G host mapping needs every 4K entry of the 2M region hypervisor-owned (1G is treated
     * as 2M). Memory the RMP does not cover is hypervisor-owned.
     */
    public boolean hostWriteFaults(long pfn, int hostLevel) {
        if (pfn < 0 || pfn >= frames)
            return false;
        if (hostLevel <= 1)
            return isAssigned(pfn);
        long head = pfn & ~(PAGES - 1L);
        for (int i = 0; i < PAGES; i++)
            if (assigned(lo(head + i)))
                return true;
        return false;
    }

    // ---- invariants ------------------------------------------------------------------------------------------

    /**
     * The RMP's own invariants over every entry (the hardware spec's R1, R2, R4, R8), one line per violation. Call
     * it while no instruction runs.
     */
    public List<String> check() {
        List<String> out = new ArrayList<>();
        long[] perAsid = new long[MAX_ASID + 1];
        long sum = 0;
        for (int ri = 0; ri < regions.length(); ri++) {
            Region r = regions.get(ri);
            if (r == null)
                continue;
            long head = (long) ri * PAGES;
            long h = r.words.get(0);
            boolean big = assigned(h) && is2M(h);
            for (int i = 0; i < PAGES; i++) {
                long pfn = head + i, lo = r.words.get(2 * i), hi = r.words.get(2 * i + 1);
                sum ^= mix(pfn, lo, hi);
                if (lo == 0 && hi == 0)
                    continue;
                String where = String.format("rmp: pfn 0x%x (%s)", pfn, RmpEntry.describe(lo, hi));
                if (!assigned(lo) && (asid(lo) != 0 || validated(lo) || gpa(lo) != 0 || immutable(lo) || hi != 0
                        || (lo & VMSA) != 0))
                    out.add(where + ": R1: a hypervisor-owned entry has guest state");
                if (is2M(lo) && i != 0)
                    out.add(where + ": R2: a 2M entry off a 2M boundary");
                if (big && i != 0)
                    out.add(where + ": R2: an entry inside an assigned 2M page is set");
                if (r.writer[i] == BY_RMPUPDATE && (validated(lo) || (lo & VMSA) != 0))
                    out.add(where + ": R4: Validated or VMSA survived RMPUPDATE");
                if (validated(lo) && r.writer[i] != BY_PVALIDATE && r.writer[i] != BY_FIRMWARE
                        && r.writer[i] != BY_PSMASH && r.writer[i] != BY_RMPADJUST)
                    out.add(where + ": R4: Validated not set by PVALIDATE or the firmware");
                if (assigned(lo))
                    perAsid[asid(lo)] += is2M(lo) ? PAGES : 1;
            }
        }
        if (sum != digest.get())
            out.add("rmp: R8: the table changed outside RMPUPDATE/PSMASH/PVALIDATE/RMPADJUST/the firmware");
        for (int a = 0; a <= MAX_ASID; a++)
            if (perAsid[a] != assignedPages.get(a))
                out.add(String.format("rmp: ASID %d owns %d frames, the count says %d", a, perAsid[a],
                        assignedPages.get(a)));
        return out;
    }

    // ---- internals -------------------------------------------------------------------------------------------

    /** The lock of {@code pfn}'s 2M region: tests hold it to play "another CPU". */
    ReentrantLock lockOf(long pfn) {
        return locks[(int) ((pfn >>> 9) & (STRIPES - 1))];
    }

    /** 2M regions that hold a non-zero entry (the storage follows what is assigned). */
    int liveRegions() {
        int n = 0;
        for (int i = 0; i < regions.length(); i++)
            if (regions.get(i) != null)
                n++;
        return n;
    }

    private boolean anyInUse(long pfn, int n) {
        if (inUse.isEmpty())
            return false;
        for (int i = 0; i < n; i++)
            if (inUse.contains(pfn + i))
                return true;
        return false;
    }

    private void account(long lo, int sign) {
        if (assigned(lo))
            assignedPages.addAndGet(asid(lo), sign * (is2M(lo) ? PAGES : 1L));
    }

    /** Writes one entry; the caller holds the region's lock. */
    private void write(long pfn, long lo, long hi, byte by) {
        int ri = (int) (pfn >>> 9), i = (int) (pfn & (PAGES - 1));
        Region r = regions.get(ri);
        if (r == null) {
            if (lo == 0 && hi == 0)
                return;
            r = new Region();
            regions.set(ri, r);
        }
        long oldLo = r.words.get(2 * i), oldHi = r.words.get(2 * i + 1);
        long change = mix(pfn, oldLo, oldHi) ^ mix(pfn, lo, hi);
        digest.accumulateAndGet(change, (a, b) -> a ^ b);
        boolean wasZero = oldLo == 0 && oldHi == 0, isZero = lo == 0 && hi == 0;
        r.words.set(2 * i + 1, hi);
        r.words.set(2 * i, lo);
        r.writer[i] = by;
        if (wasZero != isZero)
            r.nonZero += isZero ? -1 : 1;
        if (r.nonZero == 0)
            regions.set(ri, null); // readers still holding it read zeros, which is the truth
    }

    private static long mix(long pfn, long lo, long hi) {
        if (lo == 0 && hi == 0)
            return 0;
        long x = pfn * 0x9E3779B97F4A7C15L ^ lo * 0xC2B2AE3D27D4EB4FL ^ hi * 0x165667B19E3779F9L;
        x ^= x >>> 31;
        x *= 0x94D049BB133111EBL;
        return x ^ x >>> 29;
    }
}
