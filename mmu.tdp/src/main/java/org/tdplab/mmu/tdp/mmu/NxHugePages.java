package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import java.util.Arrays;
import java.util.function.LongPredicate;

import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The NX huge page mitigation's bookkeeping: tables that replaced a huge page only because of an exec fault, and
 * the recovery worker that zaps them so the huge page can come back.
 */
public final class NxHugePages {
    private final TdpMmu mmu;
    private final TablePool pool;
    /** {@code possible_nx_huge_pages}: tables split for NX, oldest first; guarded by {@link #lock}. */
    private int[] list = new int[16];
    private int count;
    private final Object lock = new Object();

    NxHugePages(TdpMmu mmu) {
        this.mmu = mmu;
        this.pool = mmu.pool;
    }

    /**
     * {@code track_possible_nx_huge_page}: onto the list, and {@code nx_lpage_splits} counts it — only if the table
     * is still flagged: between its link and this call a racing walker under the read lock may have unlinked it
     * ({@code tdp_mmu_unlink_sp} clears the flag under the same lock), and a table off the roots must not be listed.
     */
    void track(int table) {
        synchronized (lock) {
            if (!pool.nxHugePageDisallowed(table))
                return;
            if (count == list.length)
                list = Arrays.copyOf(list, count * 2);
            list[count++] = table;
            pool.setNxListed(table, true);
            mmu.stats.inc(Stat.NX_LPAGE_SPLITS);
        }
    }

    /** {@code unaccount_nx_huge_page}: off the list (if it is on it), the flag cleared, the count down. */
    void unaccount(int table) {
        synchronized (lock) {
            pool.setNxHugePageDisallowed(table, false);
            if (!pool.nxListed(table))
                return; // flagged by an exec fault that did not list it (req_level below the table's level)
            pool.setNxListed(table, false);
            for (int i = 0; i < count; i++) {
                if (list[i] == table) {
                    System.arraycopy(list, i + 1, list, i, count - i - 1);
                    count--;
                    mmu.stats.add(Stat.NX_LPAGE_SPLITS, -1);
                    return;
                }
            }
        }
    }

    /** The list's first table, unaccounted ({@code list_first_entry} and {@code unaccount_nx_huge_page}), or -1. */
    private int takeFirst() {
        synchronized (lock) {
            if (count == 0)
                return -1;
            int sp = list[0];
            unaccount(sp);
            return sp;
        }
    }

    /** The tables on the possible-NX list now. */
    public int possible() {
        synchronized (lock) {
            return count;
        }
    }

    /**
     * {@code kvm_recover_nx_huge_pages} (the TDP MMU part, under the read lock since 6.18): takes
     * {@code ceil(nx_lpage_splits / ratio)} tables from the head of the list, each unaccounted; one in a dirty-logged
     * memslot is left at that (it would come back as 4K pages; disabling the log recovers it), the others are zapped
     * by their parent SPTE, atomically and only if the parent still points at the table. Between two tables it
     * yields to a waiting writer, flushing first what it zapped since the last flush; the flush stays inside the RCU
     * section so no walker can still use a table freed after it. Returns the number of tables zapped.
     */
    public int recover(LongPredicate dirtyLogged) {
        int ratio = mmu.caps.nxRecoveryRatio();
        if (ratio == 0)
            return 0;
        int zapped = 0;
        boolean flush = false;
        mmu.lock.readLock();
        mmu.rcu.readLock();
        try {
            int toZap;
            synchronized (lock) {
                toZap = (count + ratio - 1) / ratio;
            }
            for (; toZap > 0; toZap--) {
                // off the list first, as the kernel does: a zap that then loses a race leaves the table unlisted
                int sp = takeFirst();
                if (sp < 0)
                    break;
                if (!dirtyLogged.test(pool.gfn(sp)) && zapPossibleNxHugePage(sp)) {
                    zapped++;
                    flush = true;
                }
                if (mmu.mayYieldShared()) {
                    if (flush)
                        mmu.flushRemoteTlbs(0, mmu.maxGfn());
                    flush = false;
                    mmu.yieldShared();
                }
            }
            if (flush)
                mmu.flushRemoteTlbs(0, mmu.maxGfn());
        } finally {
            mmu.rcu.readUnlock();
            mmu.lock.readUnlock();
        }
        return zapped;
    }

    /** {@code kvm_tdp_mmu_zap_possible_nx_huge_page}: an atomic zap of the parent SPTE, if it still points at it. */
    private boolean zapPossibleNxHugePage(int sp) {
        long ptep = pool.ptep(sp);
        if (ptep == 0)
            return false;
        int level = pool.level(sp) + 1;
        long old = pool.get(ptep);
        if (!isShadowPresent(old) || isLast(old, level) || pool.idOfPfn(Spte.pfn(old)) != sp)
            return false;
        if (pool.isMirror(TablePool.tableOf(ptep)))
            return false;
        if (!pool.cas(ptep, old, SHADOW_NONPRESENT_VALUE))
            return false;
        mmu.handleChangedSpte(ptep, pool.gfn(sp), old, SHADOW_NONPRESENT_VALUE, level, true);
        return true;
    }
}
