package org.tdplab.backend.tdx.module;

import java.util.Arrays;

/**
 * Each vCPU's paging-structure cache for the TD's Secure EPT: per 2M region of GPA, the S-EPT page of 4K entries the
 * CPU's walk ({@link SeptCpuWalk}) last reached there through NL_MAPPED links, so that the next walk of the region
 * reads the leaf entry only. The hardware's, so tagged by the one EPTP a TD has (its S-EPT root, fixed from
 * TDH.MNG.INIT on): nothing else is cached here. 32 entries, direct-mapped by region.
 *
 * <p>Flushed where the TDX module flushes a vCPU's EPT-derived translations: a TD entry with a stale TLB epoch
 * ({@code TDH.VP.ENTER} after {@code TDH.MEM.TRACK}, {@link GuestSide}) and {@code TDH.VP.FLUSH}. Nothing else
 * empties it: an S-EPT page unlinked without TRACK and the entry's flush (a host bug the module would refuse, or a
 * test that drives the tree by hand) stays reachable from here, as it would from the hardware's cache.
 *
 * <p>Written by the vCPU's own thread (its walks, and its TD entry's flush holding the module's lock) and by
 * {@code TDH.VP.FLUSH}, which holds the lock exclusively and runs only while the vCPU is outside the TD, where no
 * walk of it uses the cache ({@link SeptCpuWalk}). Each vCPU's entries are an array of their own with 128 bytes of
 * padding at both ends: two vCPU threads walking at once write no common line.
 */
final class SeptWalkCache {
    static final int ENTRIES = 32;
    private static final int PAD = 16;
    private final long[][] caches;

    SeptWalkCache(int vcpus) {
        caches = new long[vcpus][];
        for (int v = 0; v < vcpus; v++)
            caches[v] = new long[PAD + 2 * ENTRIES + PAD];
    }

    private static int slot(long gfn) {
        return PAD + 2 * (int) ((gfn >>> 9) & (ENTRIES - 1));
    }

    /** The page of 4K entries vCPU {@code v} cached for {@code gfn}'s 2M region, or 0. */
    int lookup(int v, long gfn) {
        long[] c = caches[v];
        int i = slot(gfn);
        return c[i] == (gfn >>> 9) + 1 ? (int) c[i + 1] : 0; // a torn entry (a flush meanwhile) reads page 0: a miss
    }

    /** vCPU {@code v}'s walk reached {@code page} for {@code gfn}'s 2M region through NL_MAPPED links. */
    void fill(int v, long gfn, int page) {
        long[] c = caches[v];
        int i = slot(gfn);
        c[i] = (gfn >>> 9) + 1;
        c[i + 1] = page;
    }

    /** Flushes vCPU {@code v}'s entries (the TD entry after a TRACK, TDH.VP.FLUSH). */
    void flush(int v) {
        Arrays.fill(caches[v], 0L);
    }

    /** The regions' first GFNs and pages vCPU {@code v} caches, as {@code [gfn, page]} pairs: for tests. */
    long[][] entries(int v) {
        long[] c = caches[v];
        return java.util.stream.IntStream.range(0, ENTRIES).filter(k -> c[PAD + 2 * k] != 0)
                .mapToObj(k -> new long[] { (c[PAD + 2 * k] - 1) << 9, c[PAD + 2 * k + 1] }).toArray(long[][]::new);
    }
}
