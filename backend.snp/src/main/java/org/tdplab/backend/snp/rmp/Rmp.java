package org.tdplab.backend.snp.rmp;

import static org.tdplab.backend.snp.rmp.RmpEntry.ASSIGNED;
import static org.tdplab.backend.snp.rmp.RmpEntry.GPA_MASK;
import static org.tdplab.backend.snp.rmp.RmpEntry.IMMUTABLE;
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

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;

/**
 * The Reverse Map Table of one host: one 16-byte entry per 4K system-physical frame, and the instructions that
 * change it — RMPUPDATE and PSMASH (hypervisor), PVALIDATE and RMPADJUST (SNP guest) — plus the RMP effect of the
 * AMD-SP commands KVM uses (SNP_LAUNCH_UPDATE, SNP_PAGE_RECLAIM) and the checks the hardware applies to memory
 * accesses (the nested-walk checks of an SNP guest, the host-write check).
 *
 * <p>This class is the facade and holds the storage; the instructions live in {@link RmpHostInstructions} and
 * {@link RmpGuestInstructions}, the invariants in {@link RmpInvariants}, the whole-table scans and the hot swap's
 * export and restore in {@link RmpScans}, the count of assigned frames per ASID in {@link AssignedCounts}.
 *
 * <p>Storage is packed like the hardware's table: one 8 KiB block of {@code long}s (low and high qword per entry)
 * per 2M region, a {@link RmpRegion} over it while the region has a non-zero entry (created on first write, dropped
 * when the region is all zero again). The blocks are slices of chunks of about 1 GiB of frames, made when a region of
 * the chunk is first written and kept ({@link RegionTable}), so memory follows the frames ever assigned. Reads are
 * lock-free and allocation-free. Each instruction runs under its 2M region's lock, like the hardware's per-entry
 * atomicity; RMPUPDATE and PSMASH do not wait for it but fail as the hardware does under contention
 * ({@code FAIL_OVERLAP} / {@code FAIL_INUSE}), and callers retry as Linux does. Preconditions are checked in the order
 * of the hardware spec's tables, so the first failing row decides the return code.
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

    static final int PAGES = 512;
    static final int STRIPE_BITS = 12, STRIPES = 1 << STRIPE_BITS;
    static final long MASK_2M = (2L << 20) - 1;
    /** Error bits of an RMP violation on an encrypted final translation; which of them PVALIDATE sets is unverified. */
    static final long NPF_RMP = Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC;

    final long frames;
    final RmpCodes codes;
    final RegionTable regions;
    /** The stripes' locks and digest words ({@link #stripeOf}). */
    final StripeLocks stripes = new StripeLocks(STRIPES);
    /** Assigned 4K frames per ASID. */
    final AssignedCounts assignedCounts = new AssignedCounts(stripes);
    /** Frames a running VMRUN uses (VMCB, VMSA, AVIC backing page). */
    final Set<Long> inUse = ConcurrentHashMap.newKeySet();
    private final RmpHostInstructions host = new RmpHostInstructions(this);
    private final RmpGuestInstructions guest = new RmpGuestInstructions(this);
    private final RmpInvariants invariants = new RmpInvariants(this);
    private final RmpScans scans = new RmpScans(this);

    public Rmp() {
        this(DEFAULT_FRAMES, RmpCodes.DEFAULT);
    }

    /** An RMP covering frames {@code [0, frames)}; frames beyond it count as permanently hypervisor-owned. */
    public Rmp(long frames, RmpCodes codes) {
        if (frames <= 0 || (frames & (PAGES - 1)) != 0 || frames > (long) Integer.MAX_VALUE * PAGES)
            throw new IllegalArgumentException("frames=" + frames + ": must be a positive multiple of 512");
        this.frames = frames;
        this.codes = codes;
        this.regions = new RegionTable((int) (frames / PAGES));
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
        return loIn(region(pfn), index(pfn));
    }

    /** The high qword (VMPL permissions) of {@code pfn}'s own entry. */
    public long hi(long pfn) {
        return hiIn(region(pfn), index(pfn));
    }

    /** The entry that governs {@code pfn}: its 2M-aligned entry when that is an assigned 2M entry, else its own. */
    public long authority(long pfn) {
        long head = pfn & ~(PAGES - 1L);
        long h = lo(head);
        return assigned(h) && is2M(h) ? head : pfn;
    }

    public boolean isAssigned(long pfn) {
        return RmpEntry.assigned(governingLo(pfn));
    }

    /** The ASID owning {@code pfn} (0 for the hypervisor and the AMD-SP). */
    public int asidOf(long pfn) {
        return asid(governingLo(pfn));
    }

    /** The GPA {@code pfn} is assigned at: the governing entry's GPA plus the offset inside a 2M entry. */
    public long gpaOf(long pfn) {
        long a = authority(pfn);
        return gpa(lo(a)) + ((pfn - a) << 12);
    }

    public boolean validatedOf(long pfn) {
        return validated(governingLo(pfn));
    }

    /**
     * The size of the RMP page {@code pfn} belongs to as a mapping level (1 = 4K, 2 = 2M), 0 when unassigned:
     * {@code snp_lookup_rmpentry}'s level for an assigned page.
     */
    public int privateLevel(long pfn) {
        long e = governingLo(pfn);
        return !assigned(e) ? 0 : is2M(e) ? 2 : 1;
    }

    /**
     * The low qword of the entry that governs {@code pfn} ({@link #authority}), both entries read from one look-up
     * of the region (they share it): the fault path asks this several times per page.
     */
    long governingLo(long pfn) {
        RmpRegion r = region(pfn);
        if (r == null)
            return 0;
        long h = r.lo(0);
        return assigned(h) && is2M(h) ? h : r.lo(index(pfn));
    }

    /** {@code pfn}'s 2M region, null when all zero or beyond the covered range. Stable under the region's lock. */
    RmpRegion region(long pfn) {
        return pfn >= 0 && pfn < frames ? regions.get((int) (pfn >>> 9)) : null;
    }

    /** The index of {@code pfn}'s entry in its region. */
    static int index(long pfn) {
        return (int) (pfn & (PAGES - 1));
    }

    /** The low qword of entry {@code i} of a region {@link #region} gave (0 for none). */
    static long loIn(RmpRegion r, int i) {
        return r == null ? 0 : r.lo(i);
    }

    /** The high qword of entry {@code i} of a region {@link #region} gave (0 for none). */
    static long hiIn(RmpRegion r, int i) {
        return r == null ? 0 : r.hi(i);
    }

    /** Assigned 4K frames of an ASID. */
    public long assignedPages(int asid) {
        return assignedCounts.assignedPages(asid);
    }

    /** Assigned 4K frames of every owner (guests and the AMD-SP). */
    public long assignedPages() {
        return assignedCounts.assignedPages();
    }

    /** Visits every assigned entry of {@code asid} (a 2M page once, at its aligned frame), in frame order. */
    public void forEachAssigned(int asid, java.util.function.LongConsumer visitor) {
        scans.forEachAssigned(asid, visitor);
    }

    /** Up to {@code limit} frames whose governing entry is assigned to {@code asid}, for messages. */
    public List<Long> assignedFrames(int asid, int limit) {
        return scans.assignedFrames(asid, limit);
    }

    // ---- hot swap ---------------------------------------------------------------------------------------------

    /**
     * The entries a VM's state depends on, as {pfn, lo, hi, writer} quadruples: every entry assigned to
     * {@code asid}, and the entries of {@code extra} frames (its firmware pages).
     */
    public long[] export(int asid, long... extra) {
        return scans.export(asid, extra);
    }

    /** Writes back entries {@link #export} gave (of another RMP object standing for the same hardware). */
    public void restore(long[] entries) {
        scans.restore(entries);
    }

    /** Waits until no CPU is executing an RMP instruction on the 2M region of {@code pfn}. */
    public void awaitRegion(long pfn) {
        int s = stripeOf(pfn);
        stripes.lock(s);
        stripes.unlock(s);
    }

    /** Marks a frame as used by a running VMRUN (VMCB, VMSA, AVIC backing page): RMPUPDATE then fails. */
    public void setInUse(long pfn, boolean used) {
        if (used)
            inUse.add(pfn);
        else
            inUse.remove(pfn);
    }

    // ---- instructions and checks: RmpHostInstructions, RmpGuestInstructions, RmpInvariants -----------------

    /** RMPUPDATE: see {@link RmpHostInstructions#rmpupdate}. */
    public int rmpupdate(long pfn, long gpa, boolean assigned, int pageSize, boolean immutable, int asid) {
        return host.rmpupdate(pfn, gpa, assigned, pageSize, immutable, asid);
    }

    /** PSMASH: see {@link RmpHostInstructions#psmash}. */
    public int psmash(long pfn) {
        return host.psmash(pfn);
    }

    /** SNP_LAUNCH_UPDATE's effect on the RMP: see {@link RmpHostInstructions#firmwareLaunchUpdate}. */
    public boolean firmwareLaunchUpdate(long pfn, int asid, boolean vmsa) {
        return host.firmwareLaunchUpdate(pfn, asid, vmsa);
    }

    /** SNP_PAGE_RECLAIM's effect: see {@link RmpHostInstructions#firmwareReclaim}. */
    public boolean firmwareReclaim(long pfn) {
        return host.firmwareReclaim(pfn);
    }

    /** See {@link RmpGuestInstructions#pvalidate}. */
    public long pvalidate(long pfn, long gpa, int pageSize, boolean validate, int asid) {
        return guest.pvalidate(pfn, gpa, pageSize, validate, asid);
    }

    /** See {@link RmpGuestInstructions#rmpadjust}. */
    public long rmpadjust(long pfn, long gpa, int pageSize, int callerVmpl, long attrs, int asid) {
        return guest.rmpadjust(pfn, gpa, pageSize, callerVmpl, attrs, asid);
    }

    /** See {@link RmpGuestInstructions#accessCheck}. */
    public long accessCheck(long pfn, long gpa, int nptLevel, int asid, boolean encrypted, boolean write,
            boolean exec, int vmpl) {
        return guest.accessCheck(pfn, gpa, nptLevel, asid, encrypted, write, exec, vmpl);
    }

    /** See {@link RmpGuestInstructions#hostWriteFaults}. */
    public boolean hostWriteFaults(long pfn, int hostLevel) {
        return guest.hostWriteFaults(pfn, hostLevel);
    }

    /** See {@link RmpInvariants#check}. */
    public List<String> check() {
        return invariants.check();
    }

    // ---- internals -------------------------------------------------------------------------------------------

    /** The lock of {@code pfn}'s 2M region ({@link StripeLocks}): tests hold it to play "another CPU". */
    Lock lockOf(long pfn) {
        return stripes.view(stripeOf(pfn));
    }

    /** Takes the lock of {@code pfn}'s 2M region, waiting for another CPU's instruction there; returns its stripe. */
    int lock(long pfn) {
        int s = stripeOf(pfn);
        stripes.lock(s);
        return s;
    }

    /**
     * The lock stripe of {@code pfn}'s 2M region, scattered (Fibonacci hashing): neighbouring regions — the blocks two
     * vCPUs fault into at once — get stripes far apart, so their locks and digest words share no cache line.
     */
    static int stripeOf(long pfn) {
        return (int) (((pfn >>> 9) * 0x9E37_79B9_7F4A_7C15L) >>> (64 - STRIPE_BITS));
    }

    /** The XOR of every entry's hash as the writes kept it ({@link #mix}); the checker recomputes it. */
    long digest() {
        return stripes.digest();
    }

    /** 2M regions that hold a non-zero entry (the storage follows what is assigned). */
    int liveRegions() {
        int n = 0;
        for (int i = 0; i < regions.length(); i++)
            if (regions.get(i) != null)
                n++;
        return n;
    }

    boolean anyInUse(long pfn, int n) {
        if (inUse.isEmpty())
            return false;
        for (int i = 0; i < n; i++)
            if (inUse.contains(pfn + i))
                return true;
        return false;
    }

    /** Writes one entry; the caller holds the region's lock. */
    void write(long pfn, long lo, long hi, byte by) {
        RmpRegion r = regions.get((int) (pfn >>> 9));
        int i = index(pfn);
        write(r, pfn, loIn(r, i), hiIn(r, i), lo, hi, by);
    }

    /**
     * {@link #write} with what the caller read under the same hold of the lock: {@code pfn}'s region ({@link #region};
     * no other CPU creates or drops it meanwhile) and the entry's old words, so the instruction looks them up once.
     * One such write per hold: a second would pass words the first made stale (the region's count and the digest
     * follow the old words given).
     */
    void write(RmpRegion r, long pfn, long oldLo, long oldHi, long lo, long hi, byte by) {
        int ri = (int) (pfn >>> 9), i = index(pfn);
        if (r == null) {
            if (lo == 0 && hi == 0)
                return;
            r = createRegion(ri);
        }
        stripes.mixIntoDigest(stripeOf(pfn), mix(pfn, oldLo, oldHi) ^ mix(pfn, lo, hi));
        boolean wasZero = oldLo == 0 && oldHi == 0, isZero = lo == 0 && hi == 0;
        // release stores, before the stripe's unlock (a release store too): the next holder sees them, and a
        // lock-free reader that sees the low word sees the high one written before it
        r.set(i, lo, hi, by);
        if (wasZero != isZero)
            r.nonZero += isZero ? -1 : 1;
        if (r.nonZero == 0)
            regions.set(ri, null); // readers still holding it read its slice: zeros, then what a new one writes there
    }

    /** A new region for index {@code ri}, published; the caller holds its lock. */
    private RmpRegion createRegion(int ri) {
        RmpRegion r = regions.create(ri);
        regions.set(ri, r);
        return r;
    }

    static long mix(long pfn, long lo, long hi) {
        if (lo == 0 && hi == 0)
            return 0;
        long x = pfn * 0x9E3779B97F4A7C15L ^ lo * 0xC2B2AE3D27D4EB4FL ^ hi * 0x165667B19E3779F9L;
        x ^= x >>> 31;
        x *= 0x94D049BB133111EBL;
        return x ^ x >>> 29;
    }
}
