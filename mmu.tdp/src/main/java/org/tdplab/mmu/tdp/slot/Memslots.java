package org.tdplab.mmu.tdp.slot;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.function.Consumer;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mem.GmemListener;
import org.tdplab.mmu.tdp.mem.GuestMemfd;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;

/**
 * The memslots of one address space ({@code struct kvm_memslots}): an immutable array sorted by base GFN, replaced
 * copy-on-write and published through a volatile field with a generation number. {@link #find} is one volatile
 * read plus a binary search: lock-free, allocation-free, and never sees a half-made change. Writers take one
 * lock ({@code slots_lock}), which {@link MemAttributes} shares; flush callbacks run under it.
 *
 * <p>Validation follows {@code kvm_set_memory_region}, in its order, with these model decisions: {@link #add} of
 * an id in use is EEXIST (KVM would treat it as a modification); an unknown id for delete, move or a flags change
 * is EINVAL, as KVM answers a delete (size 0) of a slot that does not exist; moving a guest_memfd slot is EINVAL
 * (KVM: "private memslots are immutable"); and every check is made before anything changes, so a refused move
 * leaves the old slot untouched (KVM checks the GFN limit only after flushing the old range).
 */
public final class Memslots {
    /** {@code KVM_USER_MEM_SLOTS} on x86: {@code SHRT_MAX} minus 3 internal slots. */
    public static final int USER_SLOTS = 32764;
    /** {@code KVM_MEM_MAX_NR_PAGES}. */
    public static final long MAX_NR_PAGES = (1L << 31) - 1;

    private final HostMemory memory;
    private final int vmId;
    private final long maxGfn;
    private final boolean privateMem;
    private final boolean protectedState;
    private final GmemListener gmemListener;
    private final MemAttributes attributes;
    private final Object lock = new Object();
    private volatile Snapshot current = new Snapshot(new Memslot[0], 0);

    /**
     * @param vmId owner id of the frames the slots allocate
     * @param maxGfn the highest usable GFN ({@code kvm_mmu_max_gfn}); see {@link #maxGfnFor}
     * @param privateMem {@code kvm_arch_has_private_mem}: guest_memfd slots and private attributes allowed
     * @param protectedState {@code has_protected_state}: read-only slots refused
     * @param gmemListener given to every guest_memfd the slots create
     */
    public Memslots(HostMemory memory, int vmId, long maxGfn, boolean privateMem, boolean protectedState,
            GmemListener gmemListener) {
        this.memory = memory;
        this.vmId = vmId;
        this.maxGfn = maxGfn;
        this.privateMem = privateMem;
        this.protectedState = protectedState;
        this.gmemListener = gmemListener == null ? GmemListener.NONE : gmemListener;
        this.attributes = new MemAttributes(this, maxGfn, privateMem);
    }

    /** The highest usable GFN for a guest physical address width and shared bit (-1: none): below the shared bit. */
    public static long maxGfnFor(int gpaw, int sharedBit) {
        int bits = sharedBit >= 0 ? Math.min(sharedBit, gpaw) : gpaw;
        return (1L << (bits - Levels.PAGE_SHIFT)) - 1;
    }

    public long maxGfn() {
        return maxGfn;
    }

    /** The VM's memory attributes (one per VM: a VM with private memory has one address space). */
    public MemAttributes attributes() {
        return attributes;
    }

    Object lock() {
        return lock;
    }

    /** The slot containing {@code gfn} (possibly {@link Memslot#isInvalid() invalid}), or null. */
    public Memslot find(long gfn) {
        return current.find(gfn);
    }

    /** The slot with {@code id}, or null. */
    public Memslot get(int id) {
        return current.byId(id);
    }

    /** The current immutable set of slots, for consistent iteration. */
    public Snapshot snapshot() {
        return current;
    }

    /** Memslots generation: changes on every published update. */
    public long generation() {
        return current.generation;
    }

    /**
     * {@code KVM_SET_USER_MEMORY_REGION2} creating a slot; a {@link Memslot#GMEM} slot gets a new guest_memfd of the
     * slot's size, bound at offset 0.
     *
     * @param flags {@link Memslot#DIRTY_LOG} | {@link Memslot#READONLY} | {@link Memslot#GMEM}
     * @param backingLevel largest host mapping / folio: {@link Levels#L4K}, L2M or L1G
     */
    public Memslot add(int id, long gpa, long size, int flags, int backingLevel) {
        synchronized (lock) {
            checkFlags(flags);
            Levels.check(backingLevel);
            if (size == 0 || (size & (Levels.PAGE_SIZE - 1)) != 0)
                throw new MmuException(Errno.EINVAL, "size=0x%x: must be a non-zero multiple of 4K", size);
            checkGpa(gpa);
            checkId(id);
            checkWrap(gpa, size);
            long base = gpa >>> Levels.PAGE_SHIFT, npages = size >>> Levels.PAGE_SHIFT;
            if (npages > MAX_NR_PAGES)
                throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x: more than %d pages", gpa, size,
                        MAX_NR_PAGES);
            Snapshot s = current;
            if (s.byId(id) != null)
                throw new MmuException(Errno.EEXIST, "slot %d: already exists (%s)", id, s.byId(id));
            checkOverlap(s, id, base, npages);
            checkMaxGfn(base, npages);
            GuestMemfd gmem = (flags & Memslot.GMEM) != 0
                    ? new GuestMemfd(memory, vmId, size, backingLevel, gmemListener) : null;
            Memslot slot = new Memslot(id, base, npages, flags, backingLevel, memory, vmId, gmem);
            attributes.initMixed(slot);
            publish(s.with(slot, null));
            return slot;
        }
    }

    public void delete(int id) {
        delete(id, null);
    }

    /**
     * Deletes slot {@code id}: marks it invalid and publishes that, calls {@code flush} (the MMU zaps the slot's
     * range, {@code kvm_arch_flush_shadow_memslot}), publishes the set without it, then frees its host memory and
     * closes its guest_memfd.
     */
    public void delete(int id, Consumer<Memslot> flush) {
        synchronized (lock) {
            checkId(id);
            Memslot old = require(id, "delete");
            invalidate(old, flush);
            publish(current.with(null, old));
            old.release();
        }
    }

    public Memslot move(int id, long newGpa) {
        return move(id, newGpa, null);
    }

    /**
     * KVM_MR_MOVE: the old slot is marked invalid, {@code flush} zaps its old range, and a new slot with the same id,
     * memory and dirty log appears at {@code newGpa} (the host address is unchanged, so the guest sees the same
     * data there). Moving to the same address changes nothing.
     *
     * @return the slot at its new place
     */
    public Memslot move(int id, long newGpa, Consumer<Memslot> flush) {
        synchronized (lock) {
            checkGpa(newGpa);
            checkId(id);
            Memslot old = require(id, "move");
            checkWrap(newGpa, old.sizeBytes());
            if (old.isGmem())
                throw new MmuException(Errno.EINVAL, "slot %d: a guest_memfd slot cannot be moved", id);
            long base = newGpa >>> Levels.PAGE_SHIFT;
            if (base == old.baseGfn())
                return old;
            checkOverlap(current, id, base, old.npages());
            checkMaxGfn(base, old.npages());
            invalidate(old, flush);
            Memslot moved = old.movedTo(base);
            attributes.initMixed(moved);
            publish(current.with(moved, old));
            return moved;
        }
    }

    /**
     * A flags-only change turning dirty logging on or off. Enabling starts from a clear bitmap, or an all-set one
     * with {@code initiallySet} ({@code KVM_DIRTY_LOG_INITIALLY_SET}); disabling drops the log. The caller then
     * applies the MMU side (write-protect / split, or huge page recovery), as {@code kvm_mmu_slot_apply_flags}.
     */
    public Memslot setDirtyLog(int id, boolean on, boolean initiallySet) {
        synchronized (lock) {
            checkId(id);
            Memslot slot = require(id, "change flags of");
            if (on && slot.isGmem())
                throw new MmuException(Errno.EINVAL, "slot %d: dirty_log is not allowed on a guest_memfd slot", id);
            if (on == slot.isDirtyLogging())
                return slot;
            slot.resetDirty(on && initiallySet);
            slot.setFlags(on ? slot.flags() | Memslot.DIRTY_LOG : slot.flags() & ~Memslot.DIRTY_LOG);
            publish(current.with(null, null));
            return slot;
        }
    }

    /**
     * The slot for KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG.
     *
     * @throws MmuException EINVAL for an id out of range; ENOENT when the slot does not exist or does not log
     */
    public Memslot dirtyLogSlot(int id) {
        checkId(id);
        Memslot slot = get(id);
        if (slot == null)
            throw new MmuException(Errno.ENOENT, "slot %d: no such memslot", id);
        if (!slot.isDirtyLogging())
            throw new MmuException(Errno.ENOENT, "slot %d: dirty logging is not enabled", id);
        return slot;
    }

    private void invalidate(Memslot old, Consumer<Memslot> flush) {
        old.markInvalid();
        publish(current.with(null, null)); // new generation: readers revalidate
        if (flush != null)
            flush.accept(old);
    }

    private void publish(Snapshot next) {
        current = next;
    }

    private Memslot require(int id, String what) {
        Memslot slot = current.byId(id);
        if (slot == null)
            throw new MmuException(Errno.EINVAL, "slot %d: cannot %s a memslot that does not exist", id, what);
        return slot;
    }

    /** {@code check_memory_region_flags}. */
    private void checkFlags(int flags) {
        if ((flags & ~Memslot.VALID_FLAGS) != 0)
            throw new MmuException(Errno.EINVAL, "flags=0x%x: unknown flags 0x%x", flags,
                    flags & ~Memslot.VALID_FLAGS);
        boolean gmem = (flags & Memslot.GMEM) != 0;
        if (gmem && !privateMem)
            throw new MmuException(Errno.EINVAL, "flags=gmem: this VM has no private memory");
        if (gmem && (flags & Memslot.DIRTY_LOG) != 0)
            throw new MmuException(Errno.EINVAL,
                    "flags=gmem,dirty_log: dirty logging of guest_memfd slots is not supported");
        if ((flags & Memslot.READONLY) != 0) {
            if (gmem)
                throw new MmuException(Errno.EINVAL, "flags=gmem,readonly: guest_memfd slots cannot be read-only");
            if (protectedState)
                throw new MmuException(Errno.EINVAL, "flags=readonly: not allowed for a VM with protected state");
        }
    }

    private static void checkGpa(long gpa) {
        if ((gpa & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x: not a 4K-aligned guest physical address", gpa);
    }

    /** {@code guest_phys_addr + memory_size < guest_phys_addr}, as unsigned numbers. */
    private static void checkWrap(long gpa, long size) {
        if (Long.compareUnsigned(gpa + size, gpa) < 0)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x: wraps past 2^64", gpa, size);
    }

    private static void checkId(int id) {
        if (id < 0 || id >= USER_SLOTS)
            throw new MmuException(Errno.EINVAL, "slot %d: ids are 0..%d", id, USER_SLOTS - 1);
    }

    /** {@code kvm_check_memslot_overlap}: any other slot (valid or not) intersecting the range. */
    private static void checkOverlap(Snapshot s, int id, long base, long npages) {
        for (Memslot other : s.slots)
            if (other.id() != id && base < other.endGfn() && other.baseGfn() < base + npages)
                throw new MmuException(Errno.EEXIST, "gpa=0x%x size=0x%x: overlaps %s", base << Levels.PAGE_SHIFT,
                        npages << Levels.PAGE_SHIFT, other);
    }

    private void checkMaxGfn(long base, long npages) {
        if (base + npages - 1 > maxGfn)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x: ends beyond the VM's GPA limit 0x%x",
                    base << Levels.PAGE_SHIFT, npages << Levels.PAGE_SHIFT, (maxGfn + 1) << Levels.PAGE_SHIFT);
    }

    /** One published, immutable set of slots. */
    public static final class Snapshot implements Iterable<Memslot> {
        private final Memslot[] slots; // sorted by base GFN, disjoint
        private final long generation;

        Snapshot(Memslot[] slots, long generation) {
            this.slots = slots;
            this.generation = generation;
        }

        /** A copy with {@code add} added and {@code remove} removed (either may be null), next generation. */
        Snapshot with(Memslot add, Memslot remove) {
            Memslot[] next = new Memslot[slots.length + (add != null ? 1 : 0) - (remove != null ? 1 : 0)];
            int n = 0;
            for (Memslot s : slots)
                if (s != remove)
                    next[n++] = s;
            if (add != null)
                next[n++] = add;
            Arrays.sort(next, (a, b) -> Long.compare(a.baseGfn(), b.baseGfn()));
            return new Snapshot(next, generation + 1);
        }

        public long generation() {
            return generation;
        }

        public int size() {
            return slots.length;
        }

        /** The {@code i}-th slot in GFN order. */
        public Memslot get(int i) {
            return slots[i];
        }

        /** Binary search: the slot containing {@code gfn}, or null. */
        public Memslot find(long gfn) {
            int lo = 0, hi = slots.length - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                Memslot s = slots[mid];
                if (gfn < s.baseGfn())
                    hi = mid - 1;
                else if (gfn - s.baseGfn() >= s.npages())
                    lo = mid + 1;
                else
                    return s;
            }
            return null;
        }

        /** Index of the first slot ending after {@code gfn} ({@link #size()} if none): start of a range walk. */
        public int firstEndingAfter(long gfn) {
            int lo = 0, hi = slots.length;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (slots[mid].endGfn() <= gfn)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            return lo;
        }

        public Memslot byId(int id) {
            for (Memslot s : slots)
                if (s.id() == id)
                    return s;
            return null;
        }

        @Override
        public Iterator<Memslot> iterator() {
            return new Iterator<>() {
                private int i;

                @Override
                public boolean hasNext() {
                    return i < slots.length;
                }

                @Override
                public Memslot next() {
                    if (i >= slots.length)
                        throw new NoSuchElementException();
                    return slots[i++];
                }
            };
        }
    }
}
