package org.tdplab.backend.tdx.kvm;

import java.util.concurrent.atomic.LongAdder;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.HookStatus;

/**
 * The frames one TD's TDX side holds from the host — control pages, S-EPT pages, staging pages, Dynamic PAMT pairs
 * and the vCPUs' caches — and the PAMT pair each page the module holds at 4K needs first ({@code tdx_pamt_get} /
 * {@code tdx_pamt_put}; nothing to do with a static PAMT).
 */
final class HostFrames {
    private final TdxVm td;
    /**
     * How many frames are held. Per thread: with Dynamic PAMT every fault changes it four times, and one shared word's
     * line moved between two vCPU threads at each.
     */
    private final LongAdder held = new LongAdder();

    HostFrames(TdxVm td) {
        this.td = td;
    }

    long alloc() {
        long pfn = td.ctx.allocFirmwareFrame();
        held.increment();
        return pfn;
    }

    void free(long pfn) {
        td.ctx.writeToken(pfn, 0); // tdx_quirk_reset_page: the page goes back to the kernel cleared
        td.ctx.freeFirmwareFrame(pfn);
        held.decrement();
    }

    /**
     * {@code tdx_alloc_control_page}: a frame for the module to hold at 4K (TDR, TDCS, TDVPR, TDCX), its range's
     * Dynamic PAMT pair got first.
     *
     * @throws MmuException EIO when the module refuses the pair
     */
    long allocControlPage() {
        long pfn = alloc();
        HookStatus st = pamtGet(pfn);
        if (!st.isOk()) {
            free(pfn);
            throw new MmuException(st.errno(), "%s", st.reason());
        }
        return pfn;
    }

    /** {@code tdx_free_control_page}: a page the module held at 4K back to the host, its pair put. */
    void freeControlPage(long pfn) {
        pamtPut(pfn);
        free(pfn);
    }

    /** {@code tdx_pamt_get(pfn, NULL)} of a control page (its pair from the host): OK at once with a static PAMT. */
    HookStatus pamtGet(long pfn) {
        return td.pamtRefs == null ? HookStatus.OK : td.pamtRefs.get(pfn, null);
    }

    /** {@code tdx_pamt_get(pfn, &tdx->pamt_cache)} of the S-EPT map hooks: OK at once with a static PAMT. */
    HookStatus pamtGetMapping(long pfn, long gfn) {
        return td.pamtRefs == null ? HookStatus.OK : td.pamtRefs.getMapping(pfn, gfn);
    }

    /** {@code tdx_pamt_put}: nothing with a static PAMT. */
    void pamtPut(long pfn) {
        if (td.pamtRefs != null)
            td.pamtRefs.put(pfn);
    }

    long held() {
        return held.sum();
    }

    /** A restored TD's count, from its snapshot. */
    void restoreHeld(long n) {
        held.add(n);
    }
}
