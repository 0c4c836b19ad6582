package org.tdplab.backend.snp.kvm;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The guest_memfd folios this VM's threads are preparing, for the invariant check. {@code kvm_gmem_get_pfn} puts a
 * new folio in the file's page cache locked, prepares it ({@code sev_gmem_prepare}: RMPUPDATE to private) and unlocks
 * it; the model's page map shows a folio being made as absent (locked) and publishes its frames once prepared. So
 * between a preparation's RMPUPDATE and that publication a check, which holds only the MMU lock, finds a frame
 * assigned at a GPA whose guest_memfd page reads absent — the folio is there, still locked. The check waits for such
 * a folio ({@link #covers}) to be published before it judges the frame, as a look-up of the page would wait for the
 * folio's lock.
 *
 * <p>Each thread has one record, its last preparation: a thread prepares one folio at a time, and that folio is
 * published before the thread prepares another. A record ends when its preparation fails (nothing is published) and
 * when its frames are freed ({@code sev_gmem_invalidate}: the folio left the page map), so a record the check waits
 * on stands for a folio whose publication is on its way or done. The fault path writes its own record only: one
 * store, no allocation after the thread's first preparation.
 */
final class Preparing {
    /** A record's value: the folio's first frame + 1 above {@link #ORDER_BITS} bits of its order; 0 when none. */
    private static final int ORDER_BITS = 5;
    private static final long ORDER_MASK = (1L << ORDER_BITS) - 1;

    private final List<AtomicLong> records = new CopyOnWriteArrayList<>();
    private final ThreadLocal<AtomicLong> mine = ThreadLocal.withInitial(() -> {
        AtomicLong r = new AtomicLong();
        records.add(r);
        return r;
    });

    /**
     * A preparation of the folio of {@code order} at frame {@code pfn} begins on this thread, before its first
     * RMPUPDATE; returns the record, for {@link #failed}.
     */
    AtomicLong begin(long pfn, int order) {
        AtomicLong r = mine.get();
        r.setRelease((pfn + 1) << ORDER_BITS | order); // seen before the RMPUPDATE that follows (a locked update)
        return r;
    }

    /** The preparation recorded in {@code r} failed: its folio is not published. */
    void failed(AtomicLong r) {
        r.set(0);
    }

    /** Frames {@code [pfn, end)} are freed: records of folios among them end. */
    void freed(long pfn, long end) {
        for (AtomicLong r : records) {
            long v = r.get();
            if (v != 0 && first(v) < end && first(v) + (1L << (v & ORDER_MASK)) > pfn)
                r.compareAndSet(v, 0); // not a newer preparation the thread began meanwhile
        }
    }

    /** Whether a preparation recorded now covers frame {@code pfn}: its folio is published, or about to be. */
    boolean covers(long pfn) {
        for (AtomicLong r : records) {
            long v = r.get();
            if (v != 0 && pfn >= first(v) && pfn < first(v) + (1L << (v & ORDER_MASK)))
                return true;
        }
        return false;
    }

    private static long first(long v) {
        return (v >>> ORDER_BITS) - 1;
    }
}
