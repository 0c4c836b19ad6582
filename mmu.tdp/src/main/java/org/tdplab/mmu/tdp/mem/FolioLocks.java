package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.ReentrantLock;

import org.tdplab.mmu.tdp.sync.Backoff;

/**
 * The locks of one {@link GuestMemfd}: a lock per range of the largest folio, which an allocation holds while it makes
 * a folio there (the kernel's fault holds the folio's lock, and takes no {@code filemap_invalidate_lock}), and the
 * file's writers' lock ({@code filemap_invalidate_lock} for write: punch, close, bind), which keeps allocations out of
 * the ranges a writer works on (a punch's, as the truncation holds each of their folios' locks) and waits for those in
 * progress there, while allocations elsewhere in the file go on.
 *
 * <p>In a file of 4K folios a range is a page, and its lock is the page's entry in the page map: {@link
 * PfnMap#LOCKED} while the folio is made (as the kernel puts the new folio in the page cache locked), replaced by the
 * entry that maps it, so an allocation costs one compare-and-set and a store. In a file of huge folios a range's lock
 * is a bit of {@link #rangeBusy}.
 *
 * <p>An allocation takes its range's lock, then reads {@link #writing}; a writer stores {@link #writing}, then reads
 * the locks of its ranges. All four are volatile accesses, so one side sees the other (Dekker): an allocation that
 * finds a writer on its range lets the lock go and waits, and a writer waits for every allocation that did not.
 */
final class FolioLocks {
    private static final VarHandle BITS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int LINE = 8;

    private final PfnMap folios;
    private final long pages;
    private final int shift;
    /** Whether a range is a page and its lock the page's entry. */
    private final boolean pageLocks;
    /** One at a time: punch, close and bind. */
    private final ReentrantLock writers = new ReentrantLock();
    /**
     * The ranges the writer holding {@link #writers} works on, or null. Published before the writer waits for the
     * allocations in progress there.
     */
    private volatile Span writing;
    /**
     * For huge folios: one bit per range, set while an allocation in the range runs, the word of ranges {@code
     * 64w..64w+63} at {@link #wordAt}, a cache line from the next (packed, the 8 words of a 1 GiB guest's 2M ranges
     * shared one line, which both halves' faults wrote). Null for 4K folios.
     */
    private final long[] rangeBusy;

    /** Ranges {@code [from, to)} of the largest folio, held by a writer. */
    record Span(long from, long to) {
        boolean covers(long range) {
            return range >= from && range < to;
        }
    }

    FolioLocks(PfnMap folios, long pages, int maxLevel) {
        this.folios = folios;
        this.pages = pages;
        this.shift = Levels.shift(maxLevel);
        this.pageLocks = maxLevel == Levels.L4K;
        long words = ((pages - 1) >>> shift >>> 6) + 1;
        this.rangeBusy = pageLocks ? null : new long[Math.toIntExact(LINE + (words << 3) + LINE)];
    }

    /**
     * Locks the range of page {@code index} for an allocation; waits while another allocation holds it or a writer
     * works on it. Returns -1 when locked; in a file of 4K folios, the page's entry instead ({@link PfnMap#entry}:
     * its PFN and level) when its folio was made meanwhile (nothing is locked then).
     */
    long lock(long index) {
        long range = index >>> shift;
        long found = tryLock(range);
        if (found == 0 && writing == null)
            return -1; // no writer: the range is this allocation's (every fault of a new folio comes here)
        return found != 0 && found != PfnMap.LOCKED ? found : lockSlow(index, range, found);
    }

    /** {@link #lock} once a first try found the range held, or a writer at work ({@code found}: what it found). */
    private long lockSlow(long index, long range, long found) {
        for (int spins = 0;; spins++) {
            if (found == 0) {
                Span s = writing;
                if (s == null || !s.covers(range) || writers.isHeldByCurrentThread())
                    return -1;
                unlock(index);
                for (int k = 0; writing == s; k++)
                    Backoff.pause(k, 64, this, 20_000);
                spins = -1;
            } else if (found != PfnMap.LOCKED) {
                return found;
            } else {
                Backoff.pause(spins, 64, this, 20_000);
            }
            found = tryLock(range);
        }
    }

    /** 0 when this call locked {@code range}; else {@link PfnMap#LOCKED} (held), or the page's entry (present). */
    private long tryLock(long range) {
        if (pageLocks)
            return folios.tryLockPage(range);
        long bit = 1L << range;
        int w = wordAt(range);
        long v = (long) BITS.getVolatile(rangeBusy, w);
        return (v & bit) == 0 && BITS.compareAndSet(rangeBusy, w, v, v | bit) ? 0 : PfnMap.LOCKED;
    }

    /**
     * Whether an allocation holds the range of page {@code index} now: a folio being made there, in the file locked
     * until it is published. One volatile read.
     */
    boolean locked(long index) {
        if (pageLocks)
            return folios.lockedNow(index);
        long range = index >>> shift;
        return ((long) BITS.getVolatile(rangeBusy, wordAt(range)) & 1L << range) != 0;
    }

    /** Lets go of the range of page {@code index}, no folio made. */
    void unlock(long index) {
        if (pageLocks)
            folios.unlockPage(index);
        else
            unlockRange(index >>> shift);
    }

    /** Lets go of the range of page {@code index} after a folio was mapped there (which unlocked a page's lock). */
    void unlockMapped(long index) {
        if (!pageLocks)
            unlockRange(index >>> shift);
    }

    private void unlockRange(long range) {
        BITS.getAndBitwiseAnd(rangeBusy, wordAt(range), ~(1L << range));
    }

    /** Where the word of {@code range}'s bit is: a line after the array's header, which every access reads. */
    private static int wordAt(long range) {
        return LINE + (int) ((range >>> 6) << 3);
    }

    /**
     * Holds the file for a writer working on pages {@code [start, end)}: once this returns, no allocation runs in the
     * ranges they touch, and none begins there until {@link #unlockFile}. Returns what to give {@link #unlockFile}
     * (the span of a writer of this thread already in, or null).
     */
    Span lockFile(long start, long end) {
        writers.lock();
        Span outer = writing;
        long from = start >>> shift, to = ((end - 1) >>> shift) + 1;
        if (outer != null) {
            from = Math.min(from, outer.from());
            to = Math.max(to, outer.to());
        }
        writing = new Span(from, to);
        if (pageLocks)
            awaitPages(from, to);
        else
            awaitRanges(from, to);
        return outer;
    }

    /** Holds the whole file for a writer ({@link #lockFile}). */
    Span lockFile() {
        return lockFile(0, pages);
    }

    void unlockFile(Span outer) {
        writing = outer;
        writers.unlock();
    }

    /** Waits until no allocation holds a page of {@code [from, to)}: a scan of the page map's present chunks. */
    private void awaitPages(long from, long to) {
        for (long i = folios.nextLocked(from, to); i < to; i = folios.nextLocked(i + 1, to))
            for (int spins = 0; folios.lockedNow(i); spins++)
                Backoff.pause(spins, 64, this, 20_000);
    }

    /** Waits until no allocation holds a range of {@code [from, to)}. */
    private void awaitRanges(long from, long to) {
        for (long r = from; r < to;) {
            int w = wordAt(r);
            long next = Math.min(to, (r | 63) + 1);
            long mask = (next - r == 64 ? -1L : (1L << (next - r)) - 1) << r;
            for (int spins = 0; ((long) BITS.getVolatile(rangeBusy, w) & mask) != 0; spins++)
                Backoff.pause(spins, 64, this, 20_000);
            r = next;
        }
    }
}
