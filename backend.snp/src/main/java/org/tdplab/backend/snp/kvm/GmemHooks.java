package org.tdplab.backend.snp.kvm;

import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_2M;
import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_4K;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;

import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The guest_memfd side of {@code sev.c}: {@code sev_gmem_prepare} when a folio is first handed out,
 * {@code sev_gmem_invalidate} when it is freed, and {@code sev_gmem_max_mapping_level}.
 *
 * <p>The kernel prepares per folio and its guest_memfd has 4K folios, so it makes one RMP page private per call; the
 * model's folios may be 2M or 1G, so each 2M part of a folio gets one 2M RMP page when the kernel's rule allows it
 * (large folio, whole 2M range hypervisor-owned, and GFN and PFN equally aligned), else every page gets a 4K one.
 *
 * <p>{@code kvm_gmem_populate} (SNP_LAUNCH_UPDATE) allocates folios without preparing them and marks prepared only
 * what it populated. Pages of such a folio outside the launched range stay unprepared here and are prepared when a
 * fault first resolves them, as {@code kvm_gmem_get_pfn} prepares a folio that is not yet prepared.
 */
final class GmemHooks {
    private static final int PAGES_2M = 512;

    private final RmpCalls calls;
    private final Rmp rmp;
    /** The thread running SNP_LAUNCH_UPDATE, whose folio allocations are not prepared. */
    private volatile Thread populating;
    /** Folios allocated while populating: head pfn → {head gfn, order}. */
    private final TreeMap<Long, long[]> unprepared = new TreeMap<>();

    GmemHooks(RmpCalls calls) {
        this.calls = calls;
        this.rmp = calls.rmp();
    }

    /** The folios still unprepared, as {head pfn, head gfn, order} triples. */
    long[] unprepared() {
        synchronized (unprepared) {
            long[] out = new long[unprepared.size() * 3];
            int i = 0;
            for (var e : unprepared.entrySet()) {
                out[i++] = e.getKey();
                out[i++] = e.getValue()[0];
                out[i++] = e.getValue()[1];
            }
            return out;
        }
    }

    void restoreUnprepared(long[] triples) {
        synchronized (unprepared) {
            for (int i = 0; i + 2 < triples.length; i += 3)
                unprepared.put(triples[i], new long[] { triples[i + 1], triples[i + 2] });
        }
    }

    /**
     * guest_memfd's {@code filemap_invalidate_lock}, as mainline takes it here: exclusive, around a punch's
     * invalidation and a launch page's late preparation (which, like {@code kvm_gmem_populate}, runs outside the
     * folio's lock). A fault's preparation takes it not at all: {@code kvm_gmem_get_pfn} prepares under the folio's
     * lock only (mainline {@code virt/kvm/guest_memfd.c}). Nothing else can touch a new folio's frames meanwhile — an
     * invalidation's pages are another folio's, and a 2M RMP page a prepare makes lies inside its own folio — so
     * faults prepare at once without a lock word both vCPUs write. The RMP-fault handler's PSMASH takes it too
     * ({@link #lockUnlessInvalidatedSince}): there it stands for the folio reference the kernel's handler holds, which
     * the model does not have.
     */
    private final ReentrantLock filemapInvalidateLock = new ReentrantLock();
    /** Invalidations begun, counted holding {@link #filemapInvalidateLock}. */
    private volatile long invalidations;

    void populating(boolean on) {
        populating = on ? Thread.currentThread() : null;
    }

    /** {@code kvm_arch_gmem_prepare} for a new folio. */
    void prepare(long pfn, long gfn, int order) {
        if (populating == Thread.currentThread()) {
            leaveUnprepared(pfn, gfn, order);
            return;
        }
        if (order == 0)
            prepareOne(pfn, gfn, 0); // mainline's folios are all 4K: one page, no 2M entry to look for
        else
            prepareLarge(pfn, gfn, order);
    }

    /** A folio SNP_LAUNCH_UPDATE allocates: prepared later, where a fault first resolves one of its pages. */
    private void leaveUnprepared(long pfn, long gfn, int order) {
        synchronized (unprepared) {
            unprepared.put(pfn, new long[] { gfn, order });
        }
    }

    /** {@link #prepare} of a folio of 2M or more: a 2M RMP page per 2M part where the rule allows, else 4K ones. */
    private void prepareLarge(long pfn, long gfn, int order) {
        long n = 1L << order;
        for (long off = 0; off < n;) {
            prepareOne(pfn + off, gfn + off, order);
            // only a 2M-aligned frame of a folio of 2M or more can have got a 2M entry: the level is read only there
            boolean big = order >= 9 && ((pfn + off) & (PAGES_2M - 1)) == 0 && rmp.privateLevel(pfn + off) == 2;
            off += big ? PAGES_2M : 1;
        }
    }

    /**
     * {@code sev_gmem_prepare} for one page: nothing when already assigned; else private (not validated, mutable)
     * at 2M when the folio is large and its whole 2M range is hypervisor-owned, else at 4K.
     */
    private void prepareOne(long pfn, long gfn, int order) {
        if (rmp.isAssigned(pfn))
            return;
        boolean large = order >= 9 && (pfn & (PAGES_2M - 1)) == (gfn & (PAGES_2M - 1))
                && rangeShared(pfn & ~(PAGES_2M - 1L));
        long p = large ? pfn & ~(PAGES_2M - 1L) : pfn, g = large ? gfn & ~(PAGES_2M - 1L) : gfn;
        if (!calls.makePrivate(p, g << 12, large ? LEVEL_2M : LEVEL_4K, false))
            throw prepareFailed(p, g);
    }

    private static MmuException prepareFailed(long pfn, long gfn) {
        return new MmuException(Errno.EINVAL, "gmem prepare: RMPUPDATE of pfn 0x%x to private at gpa 0x%x failed",
                pfn, gfn << 12);
    }

    /** {@code is_pfn_range_shared} over a 2M region. */
    private boolean rangeShared(long head) {
        for (int i = 0; i < PAGES_2M; i++)
            if (rmp.isAssigned(head + i))
                return false;
        return true;
    }

    /**
     * {@code sev_gmem_invalidate}: every assigned page back to the hypervisor — a 2M entry with one 2M RMPUPDATE when
     * the freed range covers it, else PSMASH first and then 4K updates. Failures are WARNed and skipped.
     */
    void invalidate(long pfn, int order, Anomalies anomalies) {
        long end = pfn + (1L << order);
        synchronized (unprepared) {
            // a launch's folio freed whole is forgotten; one freed in part (a punch) keeps the rest to prepare late;
            // the look is skipped when nothing waits (a view, an iterator and a box per freed folio otherwise)
            if (!unprepared.isEmpty())
                unprepared.subMap(pfn, true, end, false).entrySet()
                        .removeIf(e -> e.getKey() + (1L << e.getValue()[1]) <= end);
        }
        filemapInvalidateLock.lock();
        try {
            invalidations = invalidations + 1; // one writer: the lock's holder
            invalidateLocked(pfn, end, anomalies);
        } finally {
            filemapInvalidateLock.unlock();
        }
    }

    /** How many invalidations have begun: a value to give {@link #lockUnlessInvalidatedSince}. */
    long invalidations() {
        return invalidations;
    }

    /**
     * For a handler that looked a folio up without a reference to it (the model has no folio references): takes the
     * lock when no invalidation began since {@code seen}, sampled before the look-up; false, not holding it, when one
     * did. While the handler holds the lock, no invalidation has freed the folio it found or begins to (a punch frees
     * frames after its invalidation), as the kernel's reference to the folio keeps {@code sev_gmem_invalidate} waiting.
     * {@link #unlockInvalidations} drops it.
     */
    boolean lockUnlessInvalidatedSince(long seen) {
        filemapInvalidateLock.lock();
        if (invalidations == seen)
            return true;
        filemapInvalidateLock.unlock();
        return false;
    }

    void unlockInvalidations() {
        filemapInvalidateLock.unlock();
    }

    /** Whether some thread waits for the lock (tests use it to know a launch or a handler is waiting). */
    boolean invalidationLockWaited() {
        return filemapInvalidateLock.hasQueuedThreads();
    }

    private void invalidateLocked(long pfn, long end, Anomalies anomalies) {
        for (long p = pfn; p < end;) {
            int level = rmp.privateLevel(p);
            if (level == 0) {
                p++;
                continue;
            }
            boolean use2m = (p & (PAGES_2M - 1)) == 0 && end >= p + PAGES_2M && level > 1;
            if (!use2m && level > 1 && calls.psmash(p) != 0 && !calls.splitAlready(p))
                anomalies.add(String.format("gmem invalidate: PSMASH of pfn 0x%x failed", p & ~(PAGES_2M - 1L)));
            if (!calls.makeShared(p, use2m ? LEVEL_2M : LEVEL_4K))
                anomalies.add(String.format("gmem invalidate: RMPUPDATE of pfn 0x%x to shared failed", p));
            p += use2m ? PAGES_2M : 1;
        }
    }

    /**
     * {@code sev_gmem_max_mapping_level}: the RMP page size of the pfn, 4K when unassigned. Allocation-free unless a
     * page left unprepared by a launch is faulted in for the first time.
     */
    int maxLevel(long pfn) {
        int level = rmp.privateLevel(pfn);
        if (level == 0 && prepareLate(pfn))
            level = rmp.privateLevel(pfn);
        return level == 0 ? LEVEL_4K : level;
    }

    private boolean prepareLate(long pfn) {
        long head;
        long[] folio;
        synchronized (unprepared) {
            if (unprepared.isEmpty())
                return false;
            Map.Entry<Long, long[]> e = unprepared.floorEntry(pfn);
            if (e == null)
                return false;
            head = e.getKey();
            folio = e.getValue();
        }
        if (pfn >= head + (1L << folio[1]))
            return false;
        filemapInvalidateLock.lock();
        try {
            if (!stillUnprepared(head, folio))
                return false; // a punch freed the folio meanwhile: its frames are not this VM's to make private
            prepareOne(pfn, folio[0] + (pfn - head), (int) folio[1]);
        } finally {
            filemapInvalidateLock.unlock();
        }
        return true;
    }

    /**
     * Whether the folio at {@code head} is still the one a late preparation found. An invalidation forgets it before
     * it takes the lock and frees its frames after, so under the lock a folio still listed is not freed yet, and
     * whatever is prepared now the invalidation makes shared again. (The kernel's fault holds a reference to the
     * folio it prepares, so its free, and so {@code sev_gmem_invalidate}, waits for the preparation.)
     */
    private boolean stillUnprepared(long head, long[] folio) {
        synchronized (unprepared) {
            return unprepared.get(head) == folio;
        }
    }
}
