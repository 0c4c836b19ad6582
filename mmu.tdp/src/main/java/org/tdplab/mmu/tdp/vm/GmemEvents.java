package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.tdp.mem.GmemListener;
import org.tdplab.mmu.tdp.mem.GuestMemfd;

/**
 * guest_memfd events of one VM's files: an invalidation zaps the private SPTEs of the range (inside an
 * invalidation window); the folio lifecycle goes to the backend ({@code gmem_prepare} / {@code gmem_invalidate}).
 */
final class GmemEvents implements GmemListener {
    private final CoreVm vm;

    GmemEvents(CoreVm vm) {
        this.vm = vm;
    }

    @Override
    public void prepare(GuestMemfd file, long pfn, long index, int order) {
        vm.backend().gmemPrepare(pfn, file.gfnOf(index), order);
    }

    @Override
    public void free(GuestMemfd file, long pfn, int order) {
        vm.backend().gmemInvalidate(pfn, order);
    }

    @Override
    public void invalidateBegin(GuestMemfd file, long start, long end) {
        long gfn = file.gfnOf(start);
        vm.host().invalidate(gfn, gfn + (end - start), true, false);
    }

    @Override
    public void invalidateEnd(GuestMemfd file, long start, long end) {
        // the punched pages read zero from now on; recorded before faults may map them again
        long gfn = file.gfnOf(start);
        vm.expected.discard(gfn, gfn + (end - start), true);
        vm.host().endInvalidation();
    }
}
