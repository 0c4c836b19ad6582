package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;

/**
 * A TD's end, as KVM takes it apart: the key released once every private leaf is gone, then the control pages
 * reclaimed, on the TD's state in {@link TdxVm}.
 */
final class TdxTeardown {
    private final TdxVm td;

    TdxTeardown(TdxVm td) {
        this.td = td;
    }

    /**
     * {@code tdx_mmu_release_hkid} (vm_pre_destroy): after every private leaf is gone, flush the vCPUs, block the
     * TD (VPFLUSHDONE), write back the caches and free the key; from now on only RECLAIM works.
     */
    void releaseKey() {
        if (!td.hkidAssigned)
            return;
        if (td.tdrPfn >= 0 && td.module.view().lifecycle() == TdxAbi.LC_KEYS_CONFIGURED) {
            td.kicks.kickAll(); // no vCPU runs any more
            td.module.exitAll();
            for (long[] pages : td.vcpuPages)
                if (pages != null && pages[0] >= 0)
                    td.seamcall(Seamcall.TDH_VP_FLUSH, 0, 0, td.module.tdhVpFlush(pages[0] << 12));
            long st = td.seamcall(Seamcall.TDH_MNG_VPFLUSHDONE, 0, 0, td.module.tdhMngVpflushdone(td.tdr()));
            if (st != TDX_SUCCESS) {
                // the HKID cannot be freed: KVM leaks it (pr_err) and the TD's pages with it
                td.record("tdx: TDH.MNG.VPFLUSHDONE failed (%s): the HKID and the TD's pages are leaked",
                        TdxStatus.name(st));
                return;
            }
        }
        td.seamcall(Seamcall.TDH_PHYMEM_CACHE_WB, 0, 0, td.module.tdhPhymemCacheWb());
        if (td.tdrPfn >= 0 && td.module.view().lifecycle() == TdxAbi.LC_BLOCKED)
            td.seamcall(Seamcall.TDH_MNG_KEY_FREEID, 0, 0, td.module.tdhMngKeyFreeid(td.tdr()));
        td.hkids.free(td.hkid);
        td.hkidAssigned = false;
    }

    /**
     * {@code tdx_vcpu_free} + {@code tdx_vm_destroy}: reclaim the vCPUs' TDCX and TDVPR pages, the TDCS pages, then
     * the TDR, which is written back with the global KeyID before it is freed.
     */
    void teardown() {
        for (long[] e : td.septPages.entries()) {
            td.record("tdx: the S-EPT page of mirror table key 0x%x was never freed by the MMU", e[0]);
            td.septPages.remove(e[0]);
            td.reclaim(e[1], 0, 0);
        }
        long spare = td.sparePage.getAndSet(-1);
        if (spare >= 0)
            td.frames.free(spare);
        if (td.pamtCaches != null)
            td.pamtCaches.freeCaches(); // tdx_vcpu_free's tdx_free_pamt_cache
        if (td.hkidAssigned) // creation failed half way
            return;
        for (long[] pages : td.vcpuPages) {
            if (pages == null)
                continue;
            for (int i = pages.length - 1; i >= 0; i--)
                if (pages[i] >= 0 && (td.module.view().pamtEntry(pages[i]) == 0 ? release(pages[i])
                        : td.reclaim(pages[i], 0, 0)))
                    pages[i] = -1;
        }
        for (int i = 0; i < td.tdcsPfns.length; i++)
            if (td.tdcsPfns[i] > 0 && (td.module.view().pamtEntry(td.tdcsPfns[i]) == 0 ? release(td.tdcsPfns[i])
                    : td.reclaim(td.tdcsPfns[i], 0, 0)))
                td.tdcsPfns[i] = 0;
        if (td.tdrPfn >= 0) {
            long pfn = td.tdrPfn;
            boolean owned = td.module.view().pamtEntry(pfn) != 0;
            if (owned) {
                long st = td.seamcall(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, 0, 0,
                        td.module.tdhPhymemPageReclaim(pfn << 12, TdxVm.REGS.get()));
                if (st != TDX_SUCCESS) {
                    td.record("tdx: the TDR 0x%x is leaked: TDH.PHYMEM.PAGE.RECLAIM returned %s", pfn << 12,
                            TdxStatus.name(st));
                    return;
                }
                td.seamcall(Seamcall.TDH_PHYMEM_PAGE_WBINVD, 0, 0, td.module.tdhPhymemPageWbinvd(
                        (pfn << 12) | ((long) TdxAbi.GLOBAL_KEYID << TdxAbi.KEYID_SHIFT)));
            }
            td.frames.freeControlPage(pfn);
            td.tdrPfn = -1;
        }
    }

    /** A page the module never took (creation stopped before): straight back to the host, its pair put. */
    private boolean release(long pfn) {
        td.frames.freeControlPage(pfn);
        return true;
    }
}
