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
import org.tdplab.mmu.api.backend.HookStatus;

/**
 * Dynamic PAMT, the kernel's side ({@code tdx_pamt_get} / {@code tdx_pamt_put}, tip's x86/tdx of 2026-09): per 2M
 * range of host memory, how many of its 4K pages the TD has handed to the TDX module. The first page's get adds the
 * range's PAMT pair (two pages from the host, TDH.PHYMEM.PAMT.ADD); the last page's put removes it
 * (TDH.PHYMEM.PAMT.REMOVE) and frees the pair. Every get and put runs under one lock ({@code dpamt_lock}), as the
 * applied series does: v6's lockless fast path (06/11, "Optimize tdx_pamt_get/put()") was left out of it.
 *
 * <p>The kernel's counts are host-wide and the model's TDX module serves one TD, so these are the TD's: two TDs with
 * pages in one 2M range each add a pair for it here, where the kernel adds one. The kernel takes the two pages before
 * the lock on every get (from the vCPU's cache, topped up before the MMU lock) and gives them back when the range
 * had its pair; the model takes them only for an ADD.
 */
final class PamtRefs {
    private static final VarHandle COUNT = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle DIR = MethodHandles.arrayElementVarHandle(int[][].class);
    /** 2M ranges per directory: 8 GiB of host memory. */
    private static final int DIR_BITS = 12, DIR_MASK = (1 << DIR_BITS) - 1;

    private final TdxVm td;
    /** Counts by {@code pfn >> 9}, in directories made on first use; replaced by a longer copy to grow. */
    private volatile int[][] dirs = new int[1][];
    /** {@code dpamt_lock}: every get and put, and new directories. */
    private final Object lock = new Object();
    /** Pairs held now: ranges whose count is not zero (the kernel's PAMT memory, in pairs). */
    private volatile long pairs;

    PamtRefs(TdxVm td) {
        this.td = td;
    }

    /**
     * {@code tdx_pamt_get}: one more 4K page of {@code pfn}'s range is the module's; the range gets its pair first if
     * it has none. An error (the module refused the pair: EIO naming its status) leaves the count as it was.
     */
    HookStatus get(long pfn) {
        long range = pfn >>> 9;
        int[] dir = dir(range);
        int i = (int) (range & DIR_MASK);
        synchronized (lock) {
            int c = (int) COUNT.getVolatile(dir, i);
            if (c > 0) {
                COUNT.setVolatile(dir, i, c + 1);
                return HookStatus.OK;
            }
            long p0 = td.allocFrame(), p1 = td.allocFrame();
            long st = td.seamcall(Seamcall.TDH_PHYMEM_PAMT_ADD, 0, 0,
                    td.module.tdhPhymemPamtAdd(range << 21 | 1, p0 << 12, p1 << 12));
            if (st != TDX_SUCCESS) {
                td.freeFrame(p0);
                td.freeFrame(p1);
                return HookStatus.error(Errno.EIO, "TDH.PHYMEM.PAMT.ADD failed for host range 0x%x: %s (0x%x)",
                        range << 21, TdxStatus.name(st), st);
            }
            COUNT.setVolatile(dir, i, 1);
            pairs++;
            return HookStatus.OK;
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
            td.freeFrame(regs.rdx >>> 12);
            td.freeFrame(regs.r8 >>> 12);
        }
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
