package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.percpu.PercpuCounters;

/**
 * The mirror hooks of one TD ({@code tdx_sept_*} in {@code arch/x86/kvm/vmx/tdx.c}): a mirror SPTE change becomes
 * S-EPT SEAMCALLs — SEPT.ADD for a new table, PAGE.AUG / PAGE.ADD for a leaf, BLOCK → TRACK → kick → REMOVE for a
 * removal, BLOCK → TRACK → kick → DEMOTE for a split, RECLAIM for a freed table — on the TD's state in
 * {@link TdxVm}.
 */
final class TdxSeptHooks {
    private final TdxVm td;
    /**
     * The S-EPT leaves (by {@link #septKey} of their S-EPT level) a removal or split left BLOCKED when a step after its
     * BLOCK failed (TRACK, REMOVE, DEMOTE): the hook's error bugs the VM and KVM goes no further, so they stay blocked.
     */
    private final Set<Long> abandoned = ConcurrentHashMap.newKeySet();

    TdxSeptHooks(TdxVm td) {
        this.td = td;
    }

    /** Whether a failed removal or split left the S-EPT leaf at ({@code gfn}, {@code septLevel}) BLOCKED. */
    boolean abandoned(long gfn, int septLevel) {
        return !abandoned.isEmpty() && abandoned.contains(septKey(gfn, septLevel));
    }

    /** The key of the S-EPT page behind the mirror table of {@code tableLevel} (1 = a PT) covering {@code gfn}. */
    private static long septKey(long gfn, int tableLevel) {
        return (gfn & -(1L << (9 * tableLevel))) | ((long) tableLevel << 58);
    }

    /** {@code tdx_sept_set_private_spte}: link (SEPT.ADD), leaf (PAGE.AUG or PAGE.ADD), or removal. */
    HookStatus setExternalSpte(SpteChange change) {
        long gfn = change.gfn();
        int level = change.level();
        if (change.before().present())
            return removeLeaf(gfn, level, change.isLeafRemoval(), change.before().pfn());
        if (!change.after().present())
            return HookStatus.error(Errno.EIO, "mirror hook for gfn 0x%x: neither the old nor the new SPTE is present",
                    gfn);
        return install(gfn, level, change.after().leaf(), change.after().pfn());
    }

    /** An install (link or leaf) of a mirror entry, with the fields ({@link TdxVm#installExternalSpte}). */
    HookStatus install(long gfn, int level, boolean leaf, long pfn) {
        PercpuCounters.Row row = td.installsInFlight.row();
        td.installsInFlight.add(row, 1);
        try {
            return leaf ? setLeaf(gfn, level, pfn) : linkTable(gfn, level);
        } finally {
            // Looked at once the install is counted and its SEAMCALL ran: the module's lock, which the SEAMCALL held
            // shared, orders the count before this load (its hold is a volatile store then a load), and a removal
            // counts itself with an atomic before it looks at the installs, so at least one of the two sees the other
            // (an install refused before its SEAMCALL has no such order; it changed nothing the removal could meet).
            if (td.removalsInFlight.get() > 0)
                td.record("inv 12: a mirror install at gfn 0x%x ran while a removal was in progress", gfn);
            td.installsInFlight.add(row, -1);
        }
    }

    /** {@code tdx_sept_map_nonleaf_spte}: TDH.MEM.SEPT.ADD of a new S-EPT page for the table below the entry. */
    private HookStatus linkTable(long gfn, int level) {
        int septLevel = level - 1; // TDX level of the entry = level of the new mirror table
        long base = gfn & -(1L << (9 * septLevel));
        long page = td.sparePage.getAndSet(-1);
        if (page < 0)
            page = td.frames.alloc();
        HookStatus pair = td.frames.pamtGetMapping(page, base);
        if (!pair.isOk()) {
            keepOrFree(page);
            return pair;
        }
        TdxModule.Regs regs = TdxVm.REGS.get();
        long st = td.seamcall(Seamcall.TDH_MEM_SEPT_ADD, base, level,
                td.module.tdhMemSeptAdd((base << 12) | septLevel, td.tdr(), page << 12, regs));
        if (st == TDX_SUCCESS) {
            td.septPages.put(septKey(base, septLevel), page);
            return HookStatus.OK;
        }
        td.frames.pamtPut(page);
        keepOrFree(page);
        if (TdxStatus.operandBusy(st))
            return HookStatus.BUSY;
        return TdxVm.tdxError(Seamcall.TDH_MEM_SEPT_ADD, base, st);
    }

    /** A page SEPT.ADD did not take: kept for the next one ({@code mmu_external_spt_cache}), or freed. */
    private void keepOrFree(long page) {
        if (!td.sparePage.compareAndSet(-1, page))
            td.frames.free(page);
    }

    /** The largest private leaf KVM may map now: 2M once the TD runs with huge pages, else 4K. */
    int maxLeafLevel() {
        return td.options.hugePages() && td.state == TdxVm.TD_STATE_RUNNABLE ? TdxVm.PG_LEVEL_2M : TdxVm.PG_LEVEL_4K;
    }

    /**
     * {@code tdx_sept_map_leaf_spte}: PAGE.AUG (at 4K, or 2M with huge pages) once runnable, PAGE.ADD (4K only) of
     * the staged source before.
     */
    private HookStatus setLeaf(long gfn, int level, long pfn) {
        if (level > maxLeafLevel()) {
            td.record("inv 13: a private leaf at level %d for gfn 0x%x (TDX maps private memory at %s here)", level,
                    gfn, maxLeafLevel() == TdxVm.PG_LEVEL_2M ? "4K or 2M" : "4K only");
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(level != PG_LEVEL_4K%s): private leaf at level %d, gfn "
                    + "0x%x", td.options.hugePages() ? " && !RUNNABLE" : "", level, gfn);
        }
        if (level == TdxVm.PG_LEVEL_4K) {
            HookStatus pair = td.frames.pamtGetMapping(pfn, gfn);
            if (!pair.isOk())
                return pair;
        }
        HookStatus st = mapLeaf(gfn, level, pfn);
        if (!st.isOk() && level == TdxVm.PG_LEVEL_4K)
            td.frames.pamtPut(pfn);
        return st;
    }

    private HookStatus mapLeaf(long gfn, int level, long pfn) {
        TdxModule.Regs regs = TdxVm.REGS.get();
        if (td.state == TdxVm.TD_STATE_RUNNABLE) {
            long st = td.seamcall(Seamcall.TDH_MEM_PAGE_AUG, gfn, level,
                    td.module.tdhMemPageAug((gfn << 12) | (level - 1), td.tdr(), pfn << 12, regs));
            if (st == TDX_SUCCESS)
                return HookStatus.OK;
            if (TdxStatus.operandBusy(st))
                return HookStatus.BUSY;
            return TdxVm.tdxError(Seamcall.TDH_MEM_PAGE_AUG, gfn, st);
        }
        // tdx_mem_page_add: only from KVM_TDX_INIT_MEM_REGION, with its source staged
        long src = td.pageAddSrc;
        if (src < 0)
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!kvm_tdx->page_add_src): private fault at gfn 0x%x before "
                    + "the TD is finalized", gfn);
        long st = td.seamcall(Seamcall.TDH_MEM_PAGE_ADD, gfn, level,
                td.module.tdhMemPageAdd(gfn << 12, td.tdr(), pfn << 12, src << 12, regs));
        if (st == TDX_SUCCESS) {
            td.ctx.guestDataChanged(gfn, true, td.pageAddToken);
            return HookStatus.OK;
        }
        if (TdxStatus.operandBusy(st))
            return HookStatus.BUSY;
        return TdxVm.tdxError(Seamcall.TDH_MEM_PAGE_ADD, gfn, st);
    }

    /**
     * {@code tdh_do_no_vcpus}: a SEAMCALL that may lose to a vCPU (zero-step VP.ENTER, a guest TDCALL) is retried
     * once with every vCPU kicked out and kept out; the retry is expected to succeed.
     */
    private long noVcpus(LongSupplier call) {
        return noVcpus((gfn, level, rcx, regs) -> call.getAsLong(), 0, 0, 0, null);
    }

    /** A leaf of a page's removal, made once: its arguments are passed, so a call captures nothing. */
    private interface RemovalLeaf { long call(long gfn, int level, long rcx, TdxModule.Regs regs); }
    private final RemovalLeaf block = this::block, remove = this::remove, trackLeaf = this::trackLeaf;

    private long block(long gfn, int level, long rcx, TdxModule.Regs regs) {
        return td.seamcall(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, level, td.module.tdhMemRangeBlock(rcx, td.tdr(), regs));
    }

    private long remove(long gfn, int level, long rcx, TdxModule.Regs regs) {
        return td.seamcall(Seamcall.TDH_MEM_PAGE_REMOVE, gfn, level, td.module.tdhMemPageRemove(rcx, td.tdr(), regs));
    }

    private long trackLeaf(long gfn, int level, long rcx, TdxModule.Regs regs) {
        return td.seamcall(Seamcall.TDH_MEM_TRACK, gfn, 0, td.faults.armed() // no lambda per call unless injected
                ? td.faults.call(Seamcall.TDH_MEM_TRACK, () -> td.module.tdhMemTrack(td.tdr()))
                : td.module.tdhMemTrack(td.tdr()));
    }

    /** {@link #noVcpus(LongSupplier)} of a leaf made once, with its arguments. */
    private long noVcpus(RemovalLeaf call, long gfn, int level, long rcx, TdxModule.Regs regs) {
        long st = call.call(gfn, level, rcx, regs);
        if (TdxStatus.operandBusy(st)) {
            td.waitForSeptZap = true;
            try {
                td.kicks.kickAll();
                st = call.call(gfn, level, rcx, regs);
            } finally {
                td.waitForSeptZap = false;
            }
        }
        return st;
    }

    /**
     * {@code tdx_track}: TDH.MEM.TRACK and a kick, once the TD runs (before, no vCPU has run). A BUSY is retried with
     * every vCPU kept out; any other failure is a {@code TDX_BUG_ON}, and (6.19, kvm-x86 597d7068702f: the function
     * returns nothing) the kick still follows and the caller goes on — its REMOVE or DEMOTE then finds the range
     * untracked and fails too, the VM already bugged: the page stays BLOCKED in the S-EPT, the TD's.
     */
    private void track(long gfn) {
        if (td.state != TdxVm.TD_STATE_RUNNABLE)
            return;
        long st = noVcpus(this.trackLeaf, gfn, 0, 0, null);
        if (st != TDX_SUCCESS)
            td.tdxBug(Seamcall.TDH_MEM_TRACK, gfn, st);
        td.kicks.kickAll();
    }

    /**
     * {@code tdx_sept_remove_leaf_spte}, write lock held: BLOCK, TRACK + kick, REMOVE, then WBINVD with the HKID and
     * a clear before the page may go back to guest_memfd. The data is gone: re-adding gives a zero page.
     */
    HookStatus removeLeaf(long gfn, int level, boolean leafRemoval, long pfn) {
        if (td.state == TdxVm.TD_STATE_RUNNABLE)
            return removeLeafNow(gfn, level, leafRemoval, pfn);
        // before finalize no TRACK is done: tdx.finalize must not make the module RUNNABLE between BLOCK and REMOVE
        // (REMOVE would then want the TRACK this removal skipped, and the VM is bugged with the page BLOCKED)
        synchronized (td.finalizeLock) {
            return removeLeafNow(gfn, level, leafRemoval, pfn);
        }
    }

    private HookStatus removeLeafNow(long gfn, int level, boolean leafRemoval, long pfn) {
        td.removalsInFlight.incrementAndGet();
        try {
            if (td.installsInFlight.sum() > 0 || td.removalsInFlight.get() > 1)
                td.record("inv 12: the removal of gfn 0x%x ran concurrently with another mirror change", gfn);
            if (!leafRemoval)
                return HookStatus.error(Errno.EIO, "mirror hook for gfn 0x%x level %d: not a present leaf becoming "
                        + "non-present", gfn, level);
            if (!td.septPages.contains(septKey(gfn, level)))
                td.record("inv 10: the leaf at gfn 0x%x is removed after the table holding it was freed", gfn);
            if (!td.hkidAssigned) {
                return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!is_hkid_assigned): removing gfn 0x%x after the HKID "
                        + "was released", gfn);
            }
            if (level > (td.options.hugePages() ? TdxVm.PG_LEVEL_2M : TdxVm.PG_LEVEL_4K)) {
                td.record("inv 13: a private leaf at level %d for gfn 0x%x", level, gfn);
                return HookStatus.error(Errno.EIO, "KVM_BUG_ON(level != PG_LEVEL_4K): removing gfn 0x%x at level %d",
                        gfn, level);
            }
            return removeLeafSteps(gfn, level, pfn);
        } finally {
            td.removalsInFlight.decrementAndGet();
        }
    }

    /** BLOCK, TRACK + kick, REMOVE, WBINVD and the clear, for {@link #removeLeafNow}. */
    private HookStatus removeLeafSteps(long gfn, int level, long pfn) {
        long rcx = (gfn << 12) | (level - 1);
        TdxModule.Regs regs = TdxVm.REGS.get();
        long st = noVcpus(this.block, gfn, level, rcx, regs); // leaves made once: nothing captured per page
        if (st != TDX_SUCCESS) {
            return TdxVm.tdxError(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, st);
        }
        track(gfn);
        st = noVcpus(this.remove, gfn, level, rcx, regs);
        if (st != TDX_SUCCESS) {
            abandoned.add(septKey(gfn, level - 1));
            return TdxVm.tdxError(Seamcall.TDH_MEM_PAGE_REMOVE, gfn, st);
        }
        // tdh_phymem_page_wbinvd_hkid writes back one 4K page per SEAMCALL: a 2M page takes 512
        long pages = 1L << (9 * (level - 1));
        for (long i = 0; i < pages; i++) {
            long hpa = ((pfn + i) << 12) | ((long) td.hkid << TdxAbi.KEYID_SHIFT);
            st = td.seamcall(Seamcall.TDH_PHYMEM_PAGE_WBINVD, gfn + i, TdxVm.PG_LEVEL_4K, td.faults.armed()
                    ? td.faults.call(Seamcall.TDH_PHYMEM_PAGE_WBINVD, () -> td.module.tdhPhymemPageWbinvd(hpa))
                    : td.module.tdhPhymemPageWbinvd(hpa)); // per page zapped: no lambda made unless injected
            if (st != TDX_SUCCESS)
                return TdxVm.tdxError(Seamcall.TDH_PHYMEM_PAGE_WBINVD, gfn + i, st);
        }
        for (long i = 0; i < pages; i++) { // tdx_quirk_reset_folio
            td.ctx.writeToken(pfn + i, 0);
            td.ctx.guestDataChanged(gfn + i, true, 0);
        }
        if (level == TdxVm.PG_LEVEL_4K)
            td.frames.pamtPut(pfn);
        td.removals.increment();
        return HookStatus.OK;
    }

    /**
     * {@code tdx_sept_split_private_spte} (v3 08/24 = RFC v5 39/45), write lock held: the huge private leaf at
     * {@code gfn} becomes a table of 512 smaller leaves — TDH.MEM.RANGE.BLOCK at its level, {@code tdx_track} (TRACK
     * and a kick), then TDH.MEM.PAGE.DEMOTE with a new S-EPT page for the mirror's new table. No UNBLOCK follows: the
     * pieces are unblocked already. BLOCK and DEMOTE retry a BUSY once with every vCPU kept out
     * ({@code tdh_do_no_vcpus}); anything else bugs the VM. The pages and their data stay where they are.
     */
    HookStatus splitExternalSpt(SpteChange change) {
        long gfn = change.gfn();
        int level = change.level();
        if (!change.isSplit() || td.state != TdxVm.TD_STATE_RUNNABLE || level != TdxVm.PG_LEVEL_2M
                || !td.options.hugePages())
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(state != RUNNABLE || level != PG_LEVEL_2M): splitting gfn "
                    + "0x%x level %d", gfn, level);
        td.removalsInFlight.incrementAndGet();
        try {
            if (td.installsInFlight.sum() > 0 || td.removalsInFlight.get() > 1)
                td.record("inv 12: the split of gfn 0x%x ran concurrently with another mirror change", gfn);
            long rcx = (gfn << 12) | (level - 1);
            TdxModule.Regs regs = TdxVm.REGS.get();
            long st = noVcpus(() -> td.seamcall(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, level,
                    td.module.tdhMemRangeBlock(rcx, td.tdr(), regs)));
            if (st != TDX_SUCCESS)
                return TdxVm.tdxError(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, st);
            track(gfn);
            long page = td.sparePage.getAndSet(-1);
            if (page < 0)
                page = td.frames.alloc();
            HookStatus pamt = demote(gfn, level, rcx, page, change.before().pfn(), regs);
            if (!pamt.isOk()) {
                abandoned.add(septKey(gfn, level - 1));
                return pamt;
            }
            td.septPages.put(septKey(gfn, level - 1), page);
            return HookStatus.OK;
        } finally {
            td.removalsInFlight.decrementAndGet();
        }
    }

    /**
     * TDH.MEM.PAGE.DEMOTE of the 2M leaf at {@code gfn} (host page {@code pfn}) with {@code page} for its new S-EPT
     * table. With Dynamic PAMT (v3 21-22/24, the cover letter's steps 3.2–3.6) the new page's range gets its pair
     * from the per-VM split cache when it has none, DEMOTE takes another from it for the guest page's range, and
     * that range's count becomes 512. A failure frees what was taken: the page, its pair's count, the demote's pair.
     */
    private HookStatus demote(long gfn, int level, long rcx, long page, long pfn, TdxModule.Regs regs) {
        long[] pair = null;
        if (td.pamtRefs != null) {
            HookStatus got = td.pamtRefs.getForSplit(page);
            if (got.isOk() && (pair = td.pamtCaches.takeSplitPair()) == null) {
                td.frames.pamtPut(page);
                got = HookStatus.error(Errno.ENOMEM, "the TD's split cache ran dry at gfn 0x%x (the topup before the "
                        + "split did not cover DEMOTE's pair)", gfn);
            }
            if (!got.isOk()) {
                td.frames.free(page);
                return got;
            }
        }
        long r12 = pair == null ? 0 : pair[0] << 12, r13 = pair == null ? 0 : pair[1] << 12;
        long st = noVcpus(() -> td.seamcall(Seamcall.TDH_MEM_PAGE_DEMOTE, gfn, level,
                td.module.tdhMemPageDemote(rcx, td.tdr(), page << 12, r12, r13, regs)));
        if (st != TDX_SUCCESS) {
            if (pair != null) {
                td.frames.free(pair[0]);
                td.frames.free(pair[1]);
            }
            td.frames.pamtPut(page);
            td.frames.free(page);
            return TdxVm.tdxError(Seamcall.TDH_MEM_PAGE_DEMOTE, gfn, st);
        }
        if (pair != null)
            td.pamtRefs.demoted(pfn);
        return HookStatus.OK;
    }

    /**
     * {@code tdx_sept_free_private_spt}: only after the HKID is released (else {@code KVM_BUG_ON}, and the page is
     * leaked); TDH.PHYMEM.PAGE.RECLAIM, then the page is cleared and freed. A failed reclaim leaks it.
     */
    HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
        if (td.installsInFlight.sum() > 0)
            td.record("inv 12: mirror table 0x%x level %d freed while an install was in progress", gfn, level);
        if (td.hkidAssigned) { // after a failed key release KVM expects this, and the page is leaked
            if (!td.keyLeaked)
                td.record("inv 11: mirror table at gfn 0x%x level %d freed while the HKID is assigned", gfn, level);
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(is_hkid_assigned): freeing the S-EPT page of gfn 0x%x "
                    + "level %d", gfn, level);
        }
        long page = td.septPages.remove(septKey(gfn, level));
        if (page < 0)
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!sp->external_spt): no S-EPT page for the mirror table at "
                    + "gfn 0x%x level %d", gfn, level);
        if (td.module.view().septPageInUse(page))
            td.record("inv 10: the S-EPT page of gfn 0x%x level %d is freed while entries below it are present", gfn,
                    level);
        td.end.reclaim(page, gfn, level);
        return HookStatus.OK;
    }
}
