package org.tdplab.mmu.tdp.slot;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mem.GuestMemfd;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;
import org.tdplab.mmu.tdp.mem.PfnMap;
import org.tdplab.mmu.tdp.mem.SparseBitmap;

/**
 * One memslot ({@code KVM_SET_USER_MEMORY_REGION2}): a GFN range with its shared (host) memory, its guest_memfd
 * when it has one (bound at offset 0: page {@code gfn - baseGfn} of the file), a dirty bitmap, and lpage_info.
 * Geometry is immutable; a move makes a new {@code Memslot} that shares the old one's memory and dirty bitmap.
 *
 * <p>Every lookup here is lock-free and allocation-free. A fault path that resolved a pfn through a slot must
 * re-check {@link #isInvalid()} (or the memslots generation) under the MMU lock before installing it: a slot being
 * deleted is flushed only after it has been marked invalid.
 */
public final class Memslot {
    /** {@code KVM_MEM_LOG_DIRTY_PAGES}. */
    public static final int DIRTY_LOG = 1 << 0;
    /** {@code KVM_MEM_READONLY}. */
    public static final int READONLY = 1 << 1;
    /** {@code KVM_MEM_GUEST_MEMFD}. */
    public static final int GMEM = 1 << 2;
    static final int VALID_FLAGS = DIRTY_LOG | READONLY | GMEM;

    private final int id;
    private final long baseGfn;
    private final long npages;
    private final int backingLevel;
    private final int alignLevel;
    private final GuestMemfd gmem;
    private final SharedMemory shared;
    private final SparseBitmap dirty;
    private final LpageInfo lpage;
    private volatile int flags;
    private volatile boolean invalid;

    Memslot(int id, long baseGfn, long npages, int flags, int backingLevel, HostMemory memory, int vmId,
            GuestMemfd gmem) {
        this(id, baseGfn, npages, flags, backingLevel, gmem, new SharedMemory(memory, vmId, npages, backingLevel),
                new SparseBitmap(npages));
    }

    private Memslot(int id, long baseGfn, long npages, int flags, int backingLevel, GuestMemfd gmem,
            SharedMemory shared, SparseBitmap dirty) {
        this.id = id;
        this.baseGfn = baseGfn;
        this.npages = npages;
        this.flags = flags;
        this.backingLevel = backingLevel;
        this.alignLevel = Levels.alignment(baseGfn);
        this.gmem = gmem;
        this.shared = shared;
        this.dirty = dirty;
        this.lpage = new LpageInfo(baseGfn, npages);
        if (gmem != null)
            gmem.bind(baseGfn);
    }

    /** The same memory and dirty log at another base GFN (KVM_MR_MOVE); fresh lpage_info. */
    Memslot movedTo(long newBaseGfn) {
        return new Memslot(id, newBaseGfn, npages, flags, backingLevel, gmem, shared, dirty);
    }

    public int id() {
        return id;
    }

    public long baseGfn() {
        return baseGfn;
    }

    public long npages() {
        return npages;
    }

    /** First GFN after the slot. */
    public long endGfn() {
        return baseGfn + npages;
    }

    public long baseGpa() {
        return baseGfn << Levels.PAGE_SHIFT;
    }

    public long sizeBytes() {
        return npages << Levels.PAGE_SHIFT;
    }

    public boolean contains(long gfn) {
        return gfn >= baseGfn && gfn - baseGfn < npages;
    }

    public int flags() {
        return flags;
    }

    public boolean isGmem() {
        return (flags & GMEM) != 0;
    }

    public boolean isReadonly() {
        return (flags & READONLY) != 0;
    }

    /** {@code kvm_slot_dirty_track_enabled}. */
    public boolean isDirtyLogging() {
        return (flags & DIRTY_LOG) != 0;
    }

    /** The largest host mapping (shared memory) and guest_memfd folio size: {@link Levels#L4K} .. L1G. */
    public int backingLevel() {
        return backingLevel;
    }

    /** The bound guest_memfd, or null for a slot without {@link #GMEM}. */
    public GuestMemfd gmem() {
        return gmem;
    }

    /** {@code KVM_MEMSLOT_INVALID}: the slot is being deleted or moved; faults on it must retry. */
    public boolean isInvalid() {
        return invalid;
    }

    void markInvalid() {
        invalid = true;
    }

    void setFlags(int flags) {
        this.flags = flags;
    }

    // ---- shared (host) memory

    /** The host PFN behind {@code gfn}, faulting the host page in first (GUP). */
    public long hvaPfn(long gfn) {
        return shared.pfn(offset(gfn));
    }

    /** The host PFN behind {@code gfn}, or -1 when the host page is not present; never allocates. */
    public long hvaPfnIfPresent(long gfn) {
        return shared.pfnIfPresent(offset(gfn));
    }

    /**
     * {@code host_pfn_mapping_level}, with the GFN/host alignment folded in: the level of the host block that backs
     * {@code gfn}, capped at the largest level to which the slot's base GFN is aligned (the host address of the
     * slot is 1G-aligned, so a misaligned base makes the host block straddle guest huge pages). 4K when absent.
     */
    public int hostMappingLevel(long gfn) {
        int level = shared.level(offset(gfn));
        return level == 0 ? Levels.L4K : Math.min(level, alignLevel);
    }

    /**
     * {@link #hvaPfn} and {@link #hostMappingLevel} of {@code gfn} from one look-up of the host's map (a shared fault
     * needs both): {@code pfn << 2 | level}, taken apart by {@link PfnMap#pfnOf} and {@link PfnMap#levelOf}.
     */
    public long hvaPfnAndLevel(long gfn) {
        long e = shared.entry(offset(gfn));
        return (e & ~3L) | Math.min(PfnMap.levelOf(e), alignLevel);
    }

    /** Drops the host pages of {@code [startGfn, endGfn)} ∩ slot; see {@link SharedMemory#discard}. */
    public void discardShared(long startGfn, long endGfn) {
        long from = Math.max(startGfn, baseGfn) - baseGfn, to = Math.min(endGfn, endGfn()) - baseGfn;
        if (from < to)
            shared.discard(from, to);
    }

    // ---- guest_memfd

    /** Page index in the guest_memfd for {@code gfn} (offset 0 binding). */
    public long gmemIndex(long gfn) {
        return offset(gfn);
    }

    /** {@code kvm_gmem_get_pfn} for {@code gfn}. */
    public long gmemPfn(long gfn) {
        return gmemPfn(gfn, HostMemory.NO_CPU);
    }

    /**
     * {@code kvm_gmem_get_pfn} for {@code gfn} in a fault of vCPU {@code vcpu} ({@link GuestMemfd#getPfn(long,int)}).
     */
    public long gmemPfn(long gfn, int vcpu) {
        return GuestMemfd.pfnOf(gmemPfnAndOrder(gfn, vcpu));
    }

    /**
     * {@code kvm_gmem_get_pfn} for {@code gfn} in a fault of vCPU {@code vcpu}, with its {@code max_order}: the PFN and
     * the folio's order in one value ({@link GuestMemfd#getPfnAndOrder}), from one look-up.
     */
    public long gmemPfnAndOrder(long gfn, int vcpu) {
        if (gmem == null)
            throw new MmuException(Errno.EFAULT, "gfn=0x%x: slot %d has no guest_memfd", gfn, id);
        return gmem.getPfnAndOrder(offset(gfn), vcpu);
    }

    /** The guest_memfd PFN for {@code gfn} if its folio exists, else -1 (also without guest_memfd); never allocates. */
    public long gmemPfnIfPresent(long gfn) {
        long index = offset(gfn);
        return gmem == null ? -1 : gmem.pfnIfPresent(index);
    }

    // ---- dirty log: bit i is GFN baseGfn + i

    /** {@code mark_page_dirty_in_slot}: sets the bit when the slot logs; true when it was newly set. */
    public boolean markDirty(long gfn) {
        return isDirtyLogging() && dirty.testAndSet(offset(gfn));
    }

    public boolean isDirty(long gfn) {
        return dirty.get(offset(gfn));
    }

    public long dirtyCount() {
        return dirty.count(0, npages);
    }

    /** A copy of the dirty bitmap (KVM_GET_DIRTY_LOG with manual protect: no clearing). */
    public long[] snapshotDirty() {
        return dirty.snapshot();
    }

    /** The dirty bitmap, atomically cleared word by word (KVM_GET_DIRTY_LOG without manual protect). */
    public long[] getAndClearDirty() {
        long[] out = new long[(int) ((npages + 63) >>> 6)];
        for (int w = 0; w < out.length; w++)
            out[w] = dirty.getAndClearWord(w, -1L);
        return out;
    }

    /**
     * KVM_CLEAR_DIRTY_LOG for one 64-page word: clears the bits of {@code mask} for the pages from {@code gfn} and
     * returns those of them that were set.
     *
     * @throws MmuException EINVAL when {@code gfn - baseGfn} is not a multiple of 64
     */
    public long getAndClearDirty(long gfn, long mask) {
        long off = offset(gfn);
        if ((off & 63) != 0)
            throw new MmuException(Errno.EINVAL, "gfn=0x%x: first page %d of slot %d is not a multiple of 64", gfn,
                    off, id);
        return dirty.getAndClearWord(off >>> 6, mask);
    }

    void resetDirty(boolean allSet) {
        dirty.setRange(0, npages, allSet);
    }

    // ---- lpage_info

    /**
     * {@code __kvm_mmu_max_mapping_level} without the host part: the largest level ≤ {@code maxLevel} at which the
     * huge page containing {@code gfn} has no {@code disallow_lpage} reason (including mixed attributes).
     */
    public int maxMappingLevel(long gfn, int maxLevel) {
        offset(gfn);
        int level = Math.min(maxLevel, Levels.MAX_HUGE);
        for (; level > Levels.L4K; level--)
            if (lpage.get(gfn, level) == 0)
                break;
        return level;
    }

    /**
     * {@code __kvm_mmu_max_mapping_level}: for private memory the lpage_info level; for shared memory also capped at
     * {@link #hostMappingLevel}. The private caller still applies the folio order and the backend's limit.
     */
    public int maxMappingLevel(long gfn, int maxLevel, boolean isPrivate) {
        int level = maxMappingLevel(gfn, maxLevel);
        if (isPrivate || level == Levels.L4K)
            return level;
        return Math.min(level, hostMappingLevel(gfn));
    }

    /** {@code KVM_LPAGE_MIXED_FLAG} of the huge page of {@code level} containing {@code gfn}. */
    public boolean isMixed(long gfn, int level) {
        return lpage.isMixed(gfn, level);
    }

    /** The {@code disallow_lpage} count (without the flags) of the huge page containing {@code gfn}. */
    public int disallowCount(long gfn, int level) {
        return lpage.get(gfn, level) & ~LpageInfo.FLAGS;
    }

    /**
     * {@code hugepage_set_guest_inhibit}: the guest forbids mappings of {@code level} (2M or 1G) over the huge page
     * containing {@code gfn}; never cleared.
     */
    public void setGuestInhibit(long gfn, int level) {
        offset(gfn);
        lpage.setGuestInhibit(gfn, level);
    }

    /** {@code hugepage_test_guest_inhibit}. */
    public boolean guestInhibited(long gfn, int level) {
        offset(gfn);
        return lpage.isGuestInhibited(gfn, level);
    }

    /** Number of lpage_info entries at {@code level} (huge pages the slot overlaps). */
    public int lpageCount(int level) {
        return lpage.count(level);
    }

    /** {@code kvm_mmu_gfn_disallow_lpage}: forbids huge pages over {@code gfn} (e.g. write tracking). */
    public void disallowLpage(long gfn) {
        lpage.addDisallow(gfn, 1);
    }

    /** {@code kvm_mmu_gfn_allow_lpage}: undoes one {@link #disallowLpage}. */
    public void allowLpage(long gfn) {
        lpage.addDisallow(gfn, -1);
    }

    LpageInfo lpage() {
        return lpage;
    }

    /** Frees the slot's memory at deletion: host pages, and the guest_memfd (unbound first: nothing maps it). */
    void release() {
        shared.release();
        if (gmem != null) {
            gmem.bind(-1);
            gmem.close();
        }
    }

    private long offset(long gfn) {
        long off = gfn - baseGfn;
        if (off < 0 || off >= npages)
            throw new IllegalArgumentException(String.format("gfn=0x%x: outside slot %d [0x%x, 0x%x)", gfn, id,
                    baseGfn, baseGfn + npages));
        return off;
    }

    @Override
    public String toString() {
        StringBuilder f = new StringBuilder();
        if (isGmem())
            f.append(",gmem");
        if (isReadonly())
            f.append(",readonly");
        if (isDirtyLogging())
            f.append(",dirty_log");
        return String.format("slot %d gfn [0x%x, 0x%x) flags=%s backing=%s%s", id, baseGfn, endGfn(),
                f.length() == 0 ? "-" : f.substring(1), Levels.name(backingLevel), invalid ? " INVALID" : "");
    }
}
