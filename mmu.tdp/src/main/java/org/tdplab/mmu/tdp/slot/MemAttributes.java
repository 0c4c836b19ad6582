package org.tdplab.mmu.tdp.slot;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mem.Levels;
import org.tdplab.mmu.tdp.mem.SparseBitmap;

/**
 * {@code KVM_SET_MEMORY_ATTRIBUTES} state (x86: only PRIVATE): one bit per GFN up to the VM's GPA limit, in a
 * sparse bitmap, so {@link #isPrivate} is lock-free and allocation-free. Also keeps every slot's
 * {@code KVM_LPAGE_MIXED_FLAG} in step with the bits.
 *
 * <p>A conversion is driven by the caller, as {@code kvm_vm_set_mem_attributes} does: {@link #checkIoctl},
 * skip when {@link #rangeIs} already, open an MMU invalidation over the range plus {@link #straddlingHugeRanges}
 * and unmap the old kind, then {@link #set} (bits, then mixed flags), then close the invalidation.
 */
public final class MemAttributes {
    private final Memslots slots;
    private final long maxGfn;
    private final boolean privateMem;
    private final SparseBitmap bits;

    MemAttributes(Memslots slots, long maxGfn, boolean privateMem) {
        this.slots = slots;
        this.maxGfn = maxGfn;
        this.privateMem = privateMem;
        this.bits = new SparseBitmap(maxGfn + 1);
    }

    public boolean supportsPrivate() {
        return privateMem;
    }

    /**
     * {@code kvm_mem_is_private}: false for any GFN beyond the VM's limit, and for every GFN of a VM without private
     * memory, whose bitmap {@link #set} never writes (a fault asks once or twice: no bitmap walk for those VMs).
     */
    public boolean isPrivate(long gfn) {
        return privateMem && gfn >= 0 && gfn <= maxGfn && bits.get(gfn);
    }

    /** {@code kvm_range_has_memory_attributes}: every GFN of {@code [start, end)} is private (or shared). */
    public boolean rangeIs(long startGfn, long endGfn, boolean isPrivate) {
        checkRange(startGfn, endGfn);
        return bits.allEqual(startGfn, endGfn, isPrivate);
    }

    /**
     * The checks of {@code kvm_vm_ioctl_set_mem_attributes} on a byte range.
     *
     * @throws MmuException EINVAL for a VM without private memory (any attribute: the scenario contract), a size of
     *         0, a wrapping or misaligned range, or one beyond the VM's GPA limit (the kernel would accept that, but
     *         no GFN there can ever be mapped)
     */
    public void checkIoctl(long gpa, long size) {
        if (!privateMem)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x: this VM has no private memory, so no attributes", gpa);
        if (size <= 0 || gpa < 0 || gpa + size < gpa)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x: empty or wrapping range", gpa, size);
        if ((gpa & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x: not 4K-aligned", gpa);
        if ((size & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "size=0x%x: not 4K-aligned", size);
        if (((gpa + size) >>> Levels.PAGE_SHIFT) - 1 > maxGfn)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x: beyond the VM's GPA limit 0x%x", gpa, size,
                    (maxGfn + 1) << Levels.PAGE_SHIFT);
    }

    /**
     * Sets {@code [startGfn, endGfn)} private or shared, then recomputes the mixed flags of every slot overlapping
     * the range ({@code kvm_arch_post_set_memory_attributes}). The caller must already have unmapped the old kind.
     */
    public void set(long startGfn, long endGfn, boolean makePrivate) {
        if (!privateMem)
            throw new MmuException(Errno.EINVAL, "gfn=0x%x: this VM has no private memory, so no attributes",
                    startGfn);
        checkRange(startGfn, endGfn);
        synchronized (slots.lock()) {
            bits.setRange(startGfn, endGfn, makePrivate);
            Memslots.Snapshot s = slots.snapshot();
            for (int i = s.firstEndingAfter(startGfn); i < s.size() && s.get(i).baseGfn() < endGfn; i++) {
                Memslot slot = s.get(i);
                postSet(slot, Math.max(startGfn, slot.baseGfn()), Math.min(endGfn, slot.endGfn()), makePrivate);
            }
        }
    }

    /**
     * {@code kvm_arch_pre_set_memory_attributes}: for each slot overlapping {@code [startGfn, endGfn)} and each huge
     * level, the head and tail huge pages that straddle the (slot-clipped) range, lie wholly in the slot and are not
     * already mixed. A fault must not build a huge page there while the attributes change, so the caller adds them to
     * the invalidation range. Evaluate before {@link #set}.
     *
     * @param out receives {@code start, end} GFN pairs (the level is {@code end - start}: 512 or 262144 pages)
     * @return the number of ranges; those beyond {@code out.length / 2} were counted but not written
     */
    public int straddlingHugeRanges(long startGfn, long endGfn, long[] out) {
        checkRange(startGfn, endGfn);
        int count = 0;
        Memslots.Snapshot s = slots.snapshot();
        for (int i = s.firstEndingAfter(startGfn); i < s.size() && s.get(i).baseGfn() < endGfn; i++) {
            Memslot slot = s.get(i);
            long rs = Math.max(startGfn, slot.baseGfn()), re = Math.min(endGfn, slot.endGfn());
            for (int level = Levels.L2M; level <= Levels.MAX_HUGE; level++) {
                long n = Levels.pages(level);
                long head = Levels.alignDown(rs, level), tail = Levels.alignDown(re - 1, level);
                if ((head != rs || head + n > re) && head >= slot.baseGfn() && head + n <= slot.endGfn()
                        && !slot.isMixed(head, level))
                    count = emit(out, count, head, head + n);
                if (tail == head)
                    continue;
                if (tail + n > re && tail + n <= slot.endGfn() && !slot.isMixed(tail, level))
                    count = emit(out, count, tail, tail + n);
            }
        }
        return count;
    }

    private static int emit(long[] out, int count, long start, long end) {
        if (2 * count + 1 < out.length) {
            out[2 * count] = start;
            out[2 * count + 1] = end;
        }
        return count + 1;
    }

    /**
     * {@code kvm_arch_post_set_memory_attributes} for one slot and the slot-clipped range: per level from 2M up,
     * re-evaluate a straddling head and tail huge page that lies wholly in the slot, and clear the flag of those
     * wholly inside the range (they now hold one attribute). The 1G pass reads the 2M flags just computed.
     */
    private void postSet(Memslot slot, long start, long end, boolean attrs) {
        LpageInfo lpage = slot.lpage();
        for (int level = Levels.L2M; level <= Levels.MAX_HUGE; level++) {
            long n = Levels.pages(level);
            long gfn = Levels.alignDown(start, level);
            if (gfn != start || gfn + n > end) {
                if (gfn >= slot.baseGfn() && gfn + n <= slot.endGfn())
                    lpage.setMixed(gfn, level, !hugepageHasAttrs(slot, gfn, level, attrs));
                gfn += n;
            }
            for (; gfn + n <= end; gfn += n)
                lpage.setMixed(gfn, level, false);
            if (gfn < end && gfn + n <= slot.endGfn())
                lpage.setMixed(gfn, level, !hugepageHasAttrs(slot, gfn, level, attrs));
        }
    }

    /** {@code kvm_mmu_init_memslot_memory_attributes}: every huge page wholly inside a new slot is checked. */
    void initMixed(Memslot slot) {
        if (!privateMem)
            return;
        LpageInfo lpage = slot.lpage();
        for (int level = Levels.L2M; level <= Levels.MAX_HUGE; level++) {
            long n = Levels.pages(level);
            long start = Levels.alignDown(slot.baseGfn(), level);
            long end = Levels.alignDown(slot.endGfn(), level);
            if (start < slot.baseGfn())
                start += n;
            for (long gfn = start; gfn < end; gfn += n)
                lpage.setMixed(gfn, level, !hugepageHasAttrs(slot, gfn, level, isPrivate(gfn)));
        }
    }

    /** {@code hugepage_has_attrs}: 2M by the bits; 1G by its 2M pages' mixed flags and first GFNs. */
    private boolean hugepageHasAttrs(Memslot slot, long gfn, int level, boolean attrs) {
        long n = Levels.pages(level);
        if (level == Levels.L2M)
            return bits.allEqual(gfn, gfn + n, attrs);
        long sub = Levels.pages(level - 1);
        for (long g = gfn; g < gfn + n; g += sub)
            if (slot.lpage().isMixed(g, level - 1) || isPrivate(g) != attrs)
                return false;
        return true;
    }

    private void checkRange(long startGfn, long endGfn) {
        if (startGfn < 0 || startGfn >= endGfn || endGfn - 1 > maxGfn)
            throw new MmuException(Errno.EINVAL, "gfn range [0x%x, 0x%x): empty or beyond the VM's GFN limit 0x%x",
                    startGfn, endGfn, maxGfn);
    }
}
