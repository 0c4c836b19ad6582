package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.List;

import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.HookStatus;

/**
 * Dynamic PAMT, the kernel's side ({@code tdx_pamt_get} / {@code tdx_pamt_put}, tip's x86/tdx of 2026-09, in
 * linux-next at 7.3-rc5): per 2M range of host memory, how many of its 4K pages the TD has handed to the TDX module.
 * Every get takes two pages first, before the lock — from the running vCPU's cache ({@link PamtCaches}) on the
 * fault path, from the host for control pages; the first page's get gives them to the module as the range's PAMT
 * pair (TDH.PHYMEM.PAMT.ADD), any other get frees them to the host again ({@code free_pamt_array}). The last page's
 * put removes the pair (TDH.PHYMEM.PAMT.REMOVE) and frees it. Every get and put runs under one lock
 * ({@code dpamt_lock}), as the applied series does: v6's fast path (06/11, "Optimize tdx_pamt_get/put()"), which
 * took no pages and no lock for a range that had its pair, was left out of it.
 *
 * <p>The kernel's counts are host-wide and the model's TDX module serves one TD, so these are the TD's: two TDs with
 * pages in one 2M range each add a pair for it here, where the kernel adds one.
 */
final class PamtRefs {
    private static final VarHandle COUNT = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle DIR = MethodHandles.arrayElementVarHandle(int[][].class);
    /** 2M ranges per directory: 8 GiB of host memory. */
    private static final int DIR_BITS = 12, DIR_MASK = (1 << DIR_BITS) - 1;
    /** {@code TDX_DPAMT_ENTRY_PAGE_CNT}: the pages of one pair. */
    static final int PAIR = 2;
    /** {@code PTRS_PER_PMD}: a demoted 2M page's range holds all of its 4K pages at once. */
    private static final int PAGES_PER_2M = 512;

    private final TdxVm td;
    /** Counts by {@code pfn >> 9}, in directories made on first use; replaced by a longer copy to grow. */
    private volatile int[][] dirs = new int[1][];
    /** {@code dpamt_lock}: every get and put, and new directories. */
    private final Object lock = new Object();
    /** Pairs held now: ranges whose count is not zero (the kernel's PAMT memory, in pairs). */
    private volatile long pairs;
    /** Where the pairs of the fault path and of a split come from. */
    private final PamtCaches caches;

    PamtRefs(TdxVm td, PamtCaches caches) {
        this.td = td;
        this.caches = caches;
    }

    /**
     * {@code tdx_pamt_get(pfn, cache)}: one more 4K page of {@code pfn}'s range is the module's; the range gets its
     * pair first if it has none. The pair's pages come from {@code cache}, or from the host when it is null (ENOMEM
     * when it has none left). An empty cache is the kernel's {@code -ENOMEM}, which its fault path would retry; the
     * topup before every fault rules it out, so here it is an error that bugs the TD, naming it, rather than a retry
     * that could spin on a path that maps without a topup. A refused ADD is EIO naming its status. Either leaves the
     * count as it was.
     */
    HookStatus get(long pfn, PamtCaches.Cache cache) {
        long p0, p1;
        if (cache == null) {
            try {
                p0 = td.frames.alloc();
            } catch (MmuException e) {
                return HookStatus.error(e.errno(), "%s", e.getMessage());
            }
            try {
                p1 = td.frames.alloc();
            } catch (MmuException e) {
                td.frames.free(p0);
                return HookStatus.error(e.errno(), "%s", e.getMessage());
            }
        } else {
            p0 = cache.take();
            p1 = cache.take();
            if (p1 < 0) {
                if (p0 >= 0)
                    td.frames.free(p0);
                return HookStatus.error(Errno.ENOMEM, "the vCPU's Dynamic PAMT cache ran dry at host page 0x%x (the "
                        + "topup before the fault did not cover it)", pfn << 12);
            }
        }
        return get(pfn, p0, p1);
    }

    /**
     * {@code tdx_pamt_get(pfn, &tdx->pamt_cache)} of the S-EPT map hooks: the pair from the cache of the vCPU whose
     * fault maps ({@code kvm_get_running_vcpu()}); without one, {@code KVM_BUG_ON(!vcpu)}: EIO. (The kernel checks
     * for the vCPU with a static PAMT too; the model looks only when it needs the cache.)
     */
    HookStatus getMapping(long pfn, long gfn) {
        int vcpu = td.ctx.runningVcpu();
        if (vcpu < 0)
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!vcpu): an S-EPT mapping at gpa 0x%x without a running "
                    + "vCPU, whose Dynamic PAMT cache it needs", gfn << 12);
        return get(pfn, caches.cache(vcpu));
    }

    /**
     * {@link #get(long, PamtCaches.Cache)} with the pair's two pages in hand: used for the pair, or freed after the
     * lock.
     */
    private HookStatus get(long pfn, long p0, long p1) {
        long range = pfn >>> 9;
        int[] dir = dir(range);
        int i = (int) (range & DIR_MASK);
        HookStatus st = HookStatus.OK;
        synchronized (lock) {
            int c = (int) COUNT.getVolatile(dir, i);
            if (c == 0) {
                long status = td.seamcall(Seamcall.TDH_PHYMEM_PAMT_ADD, 0, 0,
                        td.module.tdhPhymemPamtAdd(range << 21 | 1, p0 << 12, p1 << 12));
                if (status == TDX_SUCCESS) {
                    COUNT.setVolatile(dir, i, 1);
                    pairs++;
                    return HookStatus.OK;
                }
                st = HookStatus.error(Errno.EIO, "TDH.PHYMEM.PAMT.ADD failed for host range 0x%x: %s (0x%x)",
                        range << 21, TdxStatus.name(status), status);
            } else {
                COUNT.setVolatile(dir, i, c + 1);
            }
        }
        td.frames.free(p0); // free_pamt_array, after the lock
        td.frames.free(p1);
        return st;
    }

    /** {@code tdx_pamt_get} of a split's new S-EPT page, its pair from the split cache. */
    HookStatus getForSplit(long pfn) {
        long[] pair = caches.takeSplitPair();
        if (pair == null)
            return HookStatus.error(Errno.ENOMEM, "the TD's split cache ran dry at S-EPT page 0x%x (the topup "
                    + "before the split did not cover it)", pfn << 12);
        return get(pfn, pair[0], pair[1]);
    }

    /**
     * After a 2M page's DEMOTE took {@code pair} for its range: all 512 4K pages of the range are the module's
     * (v3 cover letter, "Update PAMT refcount of the 2MB guest private memory"); each later REMOVE puts one.
     */
    void demoted(long pfn) {
        long range = pfn >>> 9;
        int[] dir = dir(range);
        synchronized (lock) {
            int i = (int) (range & DIR_MASK);
            if ((int) COUNT.getVolatile(dir, i) != 0)
                td.record("tdx: host range 0x%x had a count before its 2M page was demoted", range << 21);
            else
                pairs++;
            COUNT.setVolatile(dir, i, PAGES_PER_2M);
        }
    }

    /**
     * {@code tdx_pamt_put}: a 4K page of {@code pfn}'s range is no longer the module's; the last one takes the pair
     * back. A REMOVE the module refuses leaks the pair with the count left at 1, as the kernel does
     * ({@code WARN_ON_ONCE}), and is recorded.
     */
    void put(long pfn) {
        long range = pfn >>> 9;
        int[] dir = dir(range);
        int i = (int) (range & DIR_MASK);
        long p0, p1;
        synchronized (lock) {
            int c = (int) COUNT.getVolatile(dir, i);
            if (c > 1) {
                COUNT.setVolatile(dir, i, c - 1);
                return;
            }
            if (c <= 0) { // a put no get stands for: a bug of the model's KVM side; the count stays as it was
                td.record("tdx: tdx_pamt_put of host range 0x%x whose count is %d", range << 21, c);
                return;
            }
            TdxModule.Regs regs = TdxVm.REGS.get();
            long st = td.seamcall(Seamcall.TDH_PHYMEM_PAMT_REMOVE, 0, 0,
                    td.module.tdhPhymemPamtRemove(range << 21 | 1, regs));
            if (st != TDX_SUCCESS) {
                td.record("tdx: the PAMT pair of host range 0x%x is leaked: TDH.PHYMEM.PAMT.REMOVE returned %s",
                        range << 21, TdxStatus.name(st));
                return;
            }
            COUNT.setVolatile(dir, i, 0);
            pairs--;
            p0 = regs.rdx >>> 12;
            p1 = regs.r8 >>> 12;
        }
        td.frames.free(p0);
        td.frames.free(p1);
    }

    /** The pairs held now. */
    long pairs() {
        return pairs;
    }

    /** The count of the 2M range {@code range}. */
    int count(long range) {
        int[][] d = dirs;
        long di = range >>> DIR_BITS;
        int[] dir = di < d.length ? (int[]) DIR.getAcquire(d, (int) di) : null;
        return dir == null ? 0 : (int) COUNT.getVolatile(dir, (int) (range & DIR_MASK));
    }

    private int[] dir(long range) {
        int[][] d = dirs;
        long di = range >>> DIR_BITS;
        int[] dir = di < d.length ? (int[]) DIR.getAcquire(d, (int) di) : null;
        if (dir != null)
            return dir;
        synchronized (lock) { // a directory is published filled (zeros), a longer copy holds the same directories
            d = dirs;
            if (di >= d.length)
                dirs = d = Arrays.copyOf(d, (int) Math.max(di + 1, 2L * d.length));
            if (d[(int) di] == null)
                DIR.setRelease(d, (int) di, new int[1 << DIR_BITS]);
            return d[(int) di];
        }
    }

    /** After a swap: each range's count is the number of its 4K pages the restored module holds. */
    void recount() {
        td.module.view().forEachOwned4k(pfn -> {
            if ((int) COUNT.getAndAdd(dir(pfn >>> 9), (int) ((pfn >>> 9) & DIR_MASK), 1) == 0)
                pairs++;
        });
    }

    /**
     * Dynamic PAMT's bookkeeping against the module's (D2): a range's count is the number of 4K pages the module
     * holds in it, and a range has a pair exactly when its count is not zero. The first differences, at most 4.
     */
    void check(List<String> out) {
        java.util.Map<Long, Integer> owned = new java.util.TreeMap<>();
        td.module.view().forEachOwned4k(pfn -> owned.merge(pfn >>> 9, 1, Integer::sum));
        int[][] d = dirs;
        java.util.Set<Long> ranges = new java.util.TreeSet<>(owned.keySet());
        for (int di = 0; di < d.length; di++)
            for (int i = 0; d[di] != null && i <= DIR_MASK; i++)
                if ((int) COUNT.getVolatile(d[di], i) != 0)
                    ranges.add((long) di << DIR_BITS | i);
        long counted = ranges.stream().filter(r -> count(r) != 0).count();
        if (counted != pairs)
            out.add(String.format("tdx D2: %d pairs counted as held, %d ranges have a count", pairs, counted));
        int reported = 0;
        for (long r : ranges) {
            int c = count(r), m = owned.getOrDefault(r, 0);
            boolean pair = td.module.view().pamtPair(r << 9) != null;
            if ((c != m || pair != (c > 0)) && reported++ < 4)
                out.add(String.format("tdx D2: host range 0x%x: tdx_pamt_get count %d, the module holds %d 4K "
                        + "pages there and %s PAMT pair", r << 21, c, m, pair ? "a" : "no"));
        }
    }
}
