package org.tdplab.backend.tdx.kvm;

import java.util.Arrays;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.HookStatus;

/**
 * The pages Dynamic PAMT's pairs come from where KVM may not allocate: each vCPU's {@code pamt_cache}, filled before
 * a fault takes the MMU lock ({@code tdx_topup_external_pamt_cache}), and the TD's split cache
 * ({@code prealloc_split_cache}, TDX huge pages v3 19-22/24), filled before a split under the write lock. Both hold
 * host pages until a {@link PamtRefs} get draws a pair, and go back to the host with the vCPUs and the TD.
 */
final class PamtCaches {
    private final TdxVm td;
    /** {@code vcpu_tdx->pamt_cache}, per vCPU. */
    private final Cache[] caches;
    /**
     * {@code kvm_tdx->prealloc_split_cache} (TDX huge pages v3 20/24): the pages a split under the write lock takes,
     * topped up without it; its own monitor is {@code prealloc_split_cache_lock}.
     */
    private final Cache splitCache = new Cache();

    PamtCaches(TdxVm td, int vcpus) {
        this.td = td;
        this.caches = new Cache[vcpus];
        for (int v = 0; v < vcpus; v++)
            caches[v] = new Cache();
    }

    /**
     * {@code struct tdx_pamt_cache}: pages a vCPU takes from the host before the MMU lock, for the pairs its fault
     * may need under it. Only the thread in the vCPU's ioctl touches it (teardown and a swap: none is in one).
     */
    static final class Cache {
        /** Room for what one fault's topup asks: a pair for each of {@code PT64_ROOT_MAX_LEVEL} tables. */
        private long[] pages = new long[5 * PamtRefs.PAIR];
        private int count;

        int count() {
            return count;
        }

        /** A page, or -1 when the cache is empty. */
        long take() {
            return count == 0 ? -1 : pages[--count];
        }

        void add(long pfn) {
            if (count == pages.length)
                pages = Arrays.copyOf(pages, 2 * count);
            pages[count++] = pfn;
        }

        long[] toArray() {
            return Arrays.copyOf(pages, count);
        }
    }

    /** vCPU {@code vcpu}'s cache. */
    Cache cache(int vcpu) {
        return caches[vcpu];
    }

    /**
     * {@code tdx_topup_pamt_cache(&tdx->pamt_cache, min_nr_spts)}: the cache filled to a pair for each of
     * {@code minTables} tables — KVM's comment: the root needs none, the page being mapped one, so they cancel.
     * ENOMEM (naming the host's limit) when the host has no page left; what was added stays.
     */
    HookStatus topUp(int vcpu, int minTables) {
        Cache c = caches[vcpu];
        try {
            while (c.count < minTables * PamtRefs.PAIR)
                c.add(td.frames.alloc());
            return HookStatus.OK;
        } catch (MmuException e) {
            return HookStatus.error(e.errno(), "%s", e.getMessage());
        }
    }

    /**
     * {@code tdx_free_pamt_cache} of every vCPU ({@code tdx_vcpu_free}) and {@code tdx_free_vm_split_cache}: the
     * pages back to the host.
     */
    void freeCaches() {
        for (Cache c : caches)
            for (long p = c.take(); p >= 0; p = c.take())
                td.frames.free(p);
        synchronized (splitCache) {
            for (long p = splitCache.take(); p >= 0; p = splitCache.take())
                td.frames.free(p);
        }
    }

    /** Pages the vCPUs' caches and the split cache hold now (a racy sum, for stats). */
    long cached() {
        long n = splitCache.count;
        for (Cache c : caches)
            n += c.count;
        return n;
    }

    /**
     * {@code tdx_min_split_cache_sz}: a 2M split takes two pairs — one for the new S-EPT page's range, when it has
     * none yet, and one that DEMOTE gives the guest page's range. The model splits nothing else.
     */
    private static int splitCacheNeed(int level) {
        return level == TdxVm.PG_LEVEL_2M ? 2 * PamtRefs.PAIR : 0;
    }

    /** {@code tdx_need_topup_vm_split_cache}. */
    boolean needSplitTopUp(int level) {
        synchronized (splitCache) {
            return splitCache.count < splitCacheNeed(level);
        }
    }

    /**
     * {@code tdx_topup_vm_split_cache}: pages from the host, each added under the cache's lock, until a split at
     * {@code level} has what it takes. ENOMEM (naming the host's limit) when the host has none left; what was added
     * stays.
     */
    HookStatus topUpSplit(int level) {
        try {
            while (needSplitTopUp(level)) {
                long page = td.frames.alloc();
                synchronized (splitCache) {
                    splitCache.add(page);
                }
            }
            return HookStatus.OK;
        } catch (MmuException e) {
            return HookStatus.error(e.errno(), "%s", e.getMessage());
        }
    }

    /**
     * Two pages of the split cache, taken under its lock, or null (none taken) when it holds fewer: the core tops it
     * up before each split under the same write lock, so a short cache is a bug of the model's KVM side.
     */
    long[] takeSplitPair() {
        synchronized (splitCache) {
            if (splitCache.count < PamtRefs.PAIR)
                return null;
            return new long[] { splitCache.take(), splitCache.take() };
        }
    }

    /** The split cache's pages, for a snapshot. */
    long[] splitCachePages() {
        synchronized (splitCache) {
            return splitCache.toArray();
        }
    }

    /** A restored split cache's page. */
    void addToSplitCache(long page) {
        synchronized (splitCache) {
            splitCache.add(page);
        }
    }
}
