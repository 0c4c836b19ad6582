package org.tdplab.backend.snp.kvm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The guest_memfd folios this VM's threads are preparing, for the invariant check. {@code kvm_gmem_get_pfn} puts a
 * new folio in the file's page cache locked, prepares it ({@code sev_gmem_prepare}: RMPUPDATE to private) and unlocks
 * it; the model's page map shows a folio being made as absent (locked) and publishes its frames once prepared. So
 * between a preparation's RMPUPDATE and that publication a check, which holds only the MMU lock, finds a frame
 * assigned at a GPA whose guest_memfd page reads absent — the folio is there, still locked. The check waits for such
 * a folio ({@link #covers}) to be published before it judges the frame, as a look-up of the page would wait for the
 * folio's lock.
 *
 * <p>Each thread has one record, its last preparation (frames and GFNs): a thread prepares one folio at a time, and
 * that folio is published before the thread prepares another or ends. A record ends when its preparation fails
 * (nothing is published) and when its frames are freed ({@code sev_gmem_invalidate}: the folio left the page map), so
 * a live thread's record that covers a frame at its GFN stands for a folio whose publication is on its way or done.
 * The fault path writes its own record only: three release stores, no allocation after the thread's first
 * preparation.
 */
final class Preparing {
    private static final VarHandle FOLIO, GFN;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            FOLIO = l.findVarHandle(Record.class, "folio", long.class);
            GFN = l.findVarHandle(Record.class, "gfn", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A record's folio: its first frame + 1 above {@link #ORDER_BITS} bits of its order; 0 when none. */
    private static final int ORDER_BITS = 5;
    private static final long ORDER_MASK = (1L << ORDER_BITS) - 1;

    /** Every record, bounded by the threads alive at once: a new thread takes over the record of a finished one. */
    private final List<Record> records = new CopyOnWriteArrayList<>();
    private final ThreadLocal<Record> mine = ThreadLocal.withInitial(this::register);

    /** A thread's record: its last preparation's folio and first GFN. */
    static final class Record {
        final AtomicReference<Thread> owner = new AtomicReference<>(Thread.currentThread());
        @SuppressWarnings("unused") // through FOLIO
        private long folio;
        @SuppressWarnings("unused") // through GFN
        private long gfn;
    }

    /**
     * This thread's record: one a finished thread left (its last folio was published, or its preparation failed),
     * else a new one.
     */
    private Record register() {
        Thread me = Thread.currentThread();
        for (Record r : records) {
            Thread t = r.owner.get();
            if (!t.isAlive() && r.owner.compareAndSet(t, me)) {
                FOLIO.setVolatile(r, 0L);
                return r;
            }
        }
        Record r = new Record();
        records.add(r);
        return r;
    }

    /**
     * A preparation of the folio of {@code order} at frame {@code pfn} for {@code gfn} begins on this thread, before
     * its first RMPUPDATE; returns the record, for {@link #failed}.
     */
    Record begin(long pfn, long gfn, int order) {
        Record r = mine.get();
        // the folio word last: a reader that sees it sees the GFN too; all before the RMPUPDATE (a locked update)
        FOLIO.setRelease(r, 0L);
        GFN.setRelease(r, gfn);
        FOLIO.setRelease(r, (pfn + 1) << ORDER_BITS | order);
        return r;
    }

    /** The preparation recorded in {@code r} failed: its folio is not published. */
    void failed(Record r) {
        FOLIO.setVolatile(r, 0L);
    }

    /** Frames {@code [pfn, end)} are freed: records of folios among them end. */
    void freed(long pfn, long end) {
        for (Record r : records) {
            long v = (long) FOLIO.getVolatile(r);
            if (v != 0 && first(v) < end && first(v) + (1L << (v & ORDER_MASK)) > pfn)
                FOLIO.compareAndSet(r, v, 0L); // not a newer preparation the thread began meanwhile
        }
    }

    /**
     * Whether a live thread's preparation recorded now made frame {@code pfn} private for {@code gfn}: its folio is
     * published, or about to be.
     */
    boolean covers(long pfn, long gfn) {
        for (Record r : records) {
            long v = (long) FOLIO.getVolatile(r);
            if (v == 0 || pfn < first(v) || pfn >= first(v) + (1L << (v & ORDER_MASK)))
                continue;
            long g = (long) GFN.getVolatile(r);
            if ((long) FOLIO.getVolatile(r) == v && g + (pfn - first(v)) == gfn && r.owner.get().isAlive())
                return true;
        }
        return false;
    }

    private static long first(long v) {
        return (v >>> ORDER_BITS) - 1;
    }
}
