package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.tdp.mem.GmemListener;
import org.tdplab.mmu.tdp.mem.GuestMemfd;
import org.tdplab.mmu.tdp.mmu.TdpMmu;

/**
 * guest_memfd events of one VM's files: an invalidation zaps the private SPTEs of the range (inside an
 * invalidation window); the folio lifecycle goes to the backend ({@code gmem_prepare} / {@code gmem_invalidate}).
 */
final class GmemEvents implements GmemListener {
    private final TdpMmu mmu;
    private final BackendSlot gate;
    private final ExpectedMemory expected;
    /** The file index where a punch of this thread stopped (a refused host access), or -1: what follows is kept. */
    private final ThreadLocal<long[]> stoppedAt = ThreadLocal.withInitial(() -> new long[] { -1 });

    GmemEvents(TdpMmu mmu, BackendSlot gate, ExpectedMemory expected) {
        this.mmu = mmu;
        this.gate = gate;
        this.expected = expected;
    }

    @Override
    public void prepare(GuestMemfd file, long pfn, long index, int order) {
        gate.backend().gmemPrepare(pfn, file.gfnOf(index), order);
    }

    @Override
    public void free(GuestMemfd file, long pfn, int order) {
        gate.backend().gmemInvalidate(pfn, order);
    }

    /**
     * A punched page of a huge folio the punch keeps: the backend takes it back from the guest
     * ({@code gmemInvalidate} of that page, as the kernel's invalidation of the punched range does), then is told
     * that the host writes it ({@code hostAccess}), which a backend refuses for a page the host may not touch.
     */
    @Override
    public void clearing(GuestMemfd file, long pfn, long index) {
        gate.backend().gmemInvalidate(pfn, 0);
        try {
            gate.backend().hostAccess(pfn, true);
        } catch (RuntimeException e) {
            stoppedAt.get()[0] = index; // the punch stops here: this page and the rest keep their data
            throw e;
        }
    }

    /** The cleared page stays in the file: prepared again ({@code gmem_prepare} at order 0), like a fresh page. */
    @Override
    public void cleared(GuestMemfd file, long pfn, long index) {
        gate.backend().gmemPrepare(pfn, file.gfnOf(index), 0);
    }

    @Override
    public void invalidateBegin(GuestMemfd file, long start, long end) {
        if (file.gfnOf(start) < 0)
            return; // no longer bound (its memslot is gone, and was zapped when it went)
        // a huge folio only partly punched must not be mapped whole while its pages are being zeroed: its whole
        // range is in the window; only the punched pages are unmapped (that unmaps any huge leaf over them)
        long lo = folioStart(file, start), hi = folioEnd(file, end);
        long gfn = file.gfnOf(start);
        mmu.zap.invalidateBegin(file.gfnOf(lo), file.gfnOf(lo) + (hi - lo), gfn, gfn + (end - start), true,
                mmu.caps.sharedInPlace()); // a page shared in place is mapped by the direct root too
    }

    private static long folioStart(GuestMemfd file, long index) {
        int order = file.populated(index) ? file.folioOrder(index) : 0;
        return index & -(1L << order);
    }

    private static long folioEnd(GuestMemfd file, long end) {
        if (end == 0 || end > file.pages() || !file.populated(end - 1))
            return end;
        long pages = 1L << file.folioOrder(end - 1);
        return Math.min(file.pages(), (end - 1 + pages) & -pages);
    }

    @Override
    public void invalidateEnd(GuestMemfd file, long start, long end) {
        if (file.gfnOf(start) < 0)
            return;
        // the punched pages read zero from now on; recorded before faults may map them again
        long gfn = file.gfnOf(start);
        long[] stop = stoppedAt.get();
        long done = stop[0] >= start && stop[0] < end ? stop[0] : end;
        stop[0] = -1;
        expected.discard(gfn, gfn + (done - start), true);
        mmu.zap.invalidateEnd();
    }
}
