package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;

/**
 * A TD's end, as KVM takes it apart: the key released once every private leaf is gone, then the control pages
 * reclaimed, on the TD's state in {@link TdxVm}.
 *
 * <p>The error paths follow mainline 6.19 ({@code arch/x86/kvm/vmx/tdx.c} after kvm-x86 597d7068702f, "Combine
 * KVM_BUG_ON + pr_tdx_error() into TDX_BUG_ON()"; what each failure does is the same since 6.16, only the messages
 * changed): a failed TDH.VP.FLUSH, VPFLUSHDONE (but {@code TDX_FLUSHVP_NOT_DONE}), KEY.FREEID or the TDR's
 * WBINVD bugs the VM; a failed CACHE.WB or RECLAIM only WARNs ({@code TDX_BUG_ON(…, NULL)}). What cannot be released
 * is leaked, never freed: a HKID that was not freed stays taken in the {@link HkidPool}, and then every page the TD
 * holds (control and S-EPT pages) stays allocated from the host and counted in {@link TdxVm#framesHeld}, as
 * {@code tdx_vcpu_free} and {@code tdx_reclaim_td_control_pages} give up while the HKID is assigned.
 */
final class TdxTeardown {
    /** {@code TDX_SEAMCALL_RETRIES}: how often KVM resumes an interrupted TDH.PHYMEM.CACHE.WB. */
    static final int SEAMCALL_RETRIES = 10000;

    private final TdxVm td;

    TdxTeardown(TdxVm td) {
        this.td = td;
    }

    /**
     * {@code tdx_mmu_release_hkid} (vm_pre_destroy): after every private leaf is gone, flush the vCPUs, block the
     * TD (VPFLUSHDONE), write back the caches and free the key; from now on only RECLAIM works. A VPFLUSHDONE
     * that finds a vCPU not flushed leaks the HKID quietly ({@code goto out}); any other failure of VP.FLUSH,
     * VPFLUSHDONE or KEY.FREEID is a {@code TDX_BUG_ON} and leaks it too ("HKID %d is leaked").
     */
    void releaseKey() {
        if (!td.hkidAssigned)
            return;
        if (td.tdrPfn >= 0 && td.module.view().lifecycle() == TdxAbi.LC_KEYS_CONFIGURED) {
            td.kicks.kickAll(); // no vCPU runs any more
            td.module.exitAll();
            for (long[] pages : td.vcpuPages)
                if (pages != null && pages[0] >= 0) {
                    long st = td.seamcall(Seamcall.TDH_VP_FLUSH, 0, 0, td.faults.call(Seamcall.TDH_VP_FLUSH,
                            () -> td.module.tdhVpFlush(pages[0] << 12)));
                    if (st != TDX_SUCCESS) // tdx_flush_vp_on_cpu: TDX_BUG_ON(arg.err, TDH_VP_FLUSH, kvm)
                        bug(Seamcall.TDH_VP_FLUSH, st, "");
                }
            long st = td.seamcall(Seamcall.TDH_MNG_VPFLUSHDONE, 0, 0, td.faults.call(Seamcall.TDH_MNG_VPFLUSHDONE,
                    () -> td.module.tdhMngVpflushdone(td.tdr())));
            if (st == TdxStatus.TDX_FLUSHVP_NOT_DONE) {
                leakKey("TDH.MNG.VPFLUSHDONE returned TDX_FLUSHVP_NOT_DONE");
                return;
            }
            if (st != TDX_SUCCESS) {
                bug(Seamcall.TDH_MNG_VPFLUSHDONE, st, "; HKID " + td.hkid + " is leaked");
                leakKey("TDH.MNG.VPFLUSHDONE failed");
                return;
            }
        }
        cacheWb();
        if (td.tdrPfn >= 0 && td.module.view().lifecycle() == TdxAbi.LC_BLOCKED) {
            // after a failed CACHE.WB this fails (TDX_WBCACHE_NOT_COMPLETE), as the kernel's comment says
            long st = td.seamcall(Seamcall.TDH_MNG_KEY_FREEID, 0, 0, td.faults.call(Seamcall.TDH_MNG_KEY_FREEID,
                    () -> td.module.tdhMngKeyFreeid(td.tdr())));
            if (st != TDX_SUCCESS) {
                bug(Seamcall.TDH_MNG_KEY_FREEID, st, "; HKID " + td.hkid + " is leaked");
                leakKey("TDH.MNG.KEY.FREEID failed");
                return;
            }
        }
        td.hkids.free(td.hkid);
        td.hkidAssigned = false;
    }

    /**
     * {@code smp_func_do_phymem_cache_wb}: resumed while the module answers {@code TDX_INTERRUPTED_RESUMABLE}, at most
     * {@link #SEAMCALL_RETRIES} times; {@code TDX_NO_HKID_READY_TO_WBCACHE} means another CPU did it. Anything else
     * WARNs only ({@code TDX_BUG_ON(err, TDH_PHYMEM_CACHE_WB, NULL)}: no VM to bug), and the KEY.FREEID after it fails.
     */
    private void cacheWb() {
        long st = TDX_SUCCESS;
        for (int i = SEAMCALL_RETRIES; i > 0; i--) {
            st = td.seamcall(Seamcall.TDH_PHYMEM_CACHE_WB, 0, 0, td.faults.call(Seamcall.TDH_PHYMEM_CACHE_WB,
                    td.module::tdhPhymemCacheWb));
            if (st != TdxStatus.TDX_INTERRUPTED_RESUMABLE)
                break;
        }
        if (st == TdxStatus.TDX_NO_HKID_READY_TO_WBCACHE)
            st = TDX_SUCCESS;
        if (st != TDX_SUCCESS)
            td.record("tdx: WARN: SEAMCALL TDH.PHYMEM.CACHE.WB failed: %s", TdxStatus.name(st));
    }

    /** {@code TDX_BUG_ON(err, leaf, kvm)}: the VM is bugged, the message naming the leaf and the status. */
    private void bug(Seamcall leaf, long st, String more) {
        td.ctx.bug(String.format("SEAMCALL %s failed: %s (0x%x)%s", leaf.intelName(), TdxStatus.name(st), st, more));
    }

    /** The HKID stays assigned (and taken in the pool); the teardown then leaks every page the TD holds. */
    private void leakKey(String why) {
        td.keyLeaked = true;
        td.record("tdx: %s: HKID %d is leaked, and with it the TD's pages", why, td.hkid);
    }

    /**
     * {@code tdx_vcpu_free} + {@code tdx_vm_destroy}: reclaim the vCPUs' TDCX and TDVPR pages, the TDCS pages, then
     * the TDR, which is written back with the global KeyID before it is freed. While the HKID is still assigned
     * (creation failed half way, or its release failed) nothing can be reclaimed: both give up, and the pages the
     * module holds — the S-EPT pages the MMU could not free ({@code KVM_BUG_ON(is_hkid_assigned)} in
     * {@code tdx_sept_free_private_spt}) included — stay leaked. A failed RECLAIM leaks its page (WARN); a failed
     * WBINVD of the TDR bugs the VM and leaks the TDR.
     */
    void teardown() {
        long spare = td.sparePage.getAndSet(-1);
        if (spare >= 0)
            td.frames.free(spare);
        if (td.pamtCaches != null)
            td.pamtCaches.freeCaches(); // tdx_vcpu_free's tdx_free_pamt_cache
        if (td.hkidAssigned)
            return;
        for (long[] e : td.septPages.entries()) {
            td.record("tdx: the S-EPT page of mirror table key 0x%x was never freed by the MMU", e[0]);
            td.septPages.remove(e[0]);
            reclaim(e[1], 0, 0);
        }
        for (long[] pages : td.vcpuPages) {
            if (pages == null)
                continue;
            for (int i = pages.length - 1; i >= 0; i--)
                if (pages[i] >= 0 && (td.module.view().pamtEntry(pages[i]) == 0 ? release(pages[i])
                        : reclaim(pages[i], 0, 0)))
                    pages[i] = -1;
        }
        for (int i = 0; i < td.tdcsPfns.length; i++)
            if (td.tdcsPfns[i] > 0 && (td.module.view().pamtEntry(td.tdcsPfns[i]) == 0 ? release(td.tdcsPfns[i])
                    : reclaim(td.tdcsPfns[i], 0, 0)))
                td.tdcsPfns[i] = 0;
        if (td.tdrPfn >= 0) {
            long pfn = td.tdrPfn;
            boolean owned = td.module.view().pamtEntry(pfn) != 0;
            if (owned) {
                long st = td.seamcall(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, 0, 0, td.faults.call(
                        Seamcall.TDH_PHYMEM_PAGE_RECLAIM, () -> td.module.tdhPhymemPageReclaim(pfn << 12,
                                TdxVm.REGS.get())));
                if (st != TDX_SUCCESS) {
                    td.record("tdx: the TDR 0x%x is leaked: TDH.PHYMEM.PAGE.RECLAIM returned %s", pfn << 12,
                            TdxStatus.name(st));
                    return;
                }
                st = td.seamcall(Seamcall.TDH_PHYMEM_PAGE_WBINVD, 0, 0, td.faults.call(Seamcall.TDH_PHYMEM_PAGE_WBINVD,
                        () -> td.module.tdhPhymemPageWbinvd((pfn << 12)
                                | ((long) TdxAbi.GLOBAL_KEYID << TdxAbi.KEYID_SHIFT))));
                if (st != TDX_SUCCESS) { // TDX_BUG_ON(err, TDH_PHYMEM_PAGE_WBINVD, kvm): the TDR stays leaked
                    bug(Seamcall.TDH_PHYMEM_PAGE_WBINVD, st, String.format("; the TDR 0x%x is leaked", pfn << 12));
                    td.record("tdx: the TDR 0x%x is leaked: its TDH.PHYMEM.PAGE.WBINVD returned %s", pfn << 12,
                            TdxStatus.name(st));
                    return;
                }
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

    /**
     * {@code tdx_reclaim_page}: RECLAIM, then clear and free. A failure is a {@code TDX_BUG_ON_3(…, NULL)} — a WARN
     * with no VM to bug (6.19, kvm-x86 597d7068702f; a bare WARN_ON_ONCE before) — and the page is leaked: it stays
     * allocated and counted in {@link TdxVm#framesHeld}, and is recorded.
     */
    boolean reclaim(long pfn, long gfn, int level) {
        TdxModule.Regs regs = TdxVm.REGS.get();
        long st = td.seamcall(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, gfn, level,
                td.faults.call(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, () -> td.module.tdhPhymemPageReclaim(pfn << 12, regs)));
        if (st != TDX_SUCCESS) {
            td.record("tdx: page 0x%x leaked: TDH.PHYMEM.PAGE.RECLAIM returned %s", pfn << 12, TdxStatus.name(st));
            return false;
        }
        td.frames.freeControlPage(pfn);
        return true;
    }
}
