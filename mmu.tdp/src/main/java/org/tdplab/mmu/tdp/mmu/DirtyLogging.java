package org.tdplab.mmu.tdp.mmu;

import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The table walks of dirty logging over the valid direct roots: write protection, or with a page-modification log
 * clearing D (the CPU logs each page whose D it sets again: {@link org.tdplab.mmu.tdp.vcpu.PageModificationLog}).
 */
public final class DirtyLogging {
    private final TdpMmu mmu;

    DirtyLogging(TdpMmu mmu) {
        this.mmu = mmu;
    }

    /**
     * {@code kvm_mmu_slot_apply_flags} when logging starts (not initially-set), under the read lock and RCU as the
     * kernel does it ({@code kvm_tdp_mmu_clear_dirty_slot}, {@code kvm_tdp_mmu_wrprot_slot}), so vCPU faults go on
     * meanwhile: with D-bit logging every leaf loses D ({@code clear_dirty_gfn_range}) and then the huge leaves lose
     * W ({@code wrprot_gfn_range} from 2M: logging is at 4K); else every leaf loses W. Each change is a CAS from the
     * walk's snapshot, looked at again when it loses (a fault, the CPU's A/D update or aging changed the entry), so
     * nothing set meanwhile is lost. Mmu-writable stays: a write fault restores W and logs the page. The TLBs are
     * flushed unconditionally, after the lock is let go ("Unconditionally flush the TLBs after enabling dirty
     * logging": a vCPU may cache a leaf writable that lost W without a flush, by aging, which this walk would not
     * see).
     */
    public void startLogging(long start, long end) {
        TdpIter it = new TdpIter(mmu.pool);
        mmu.lock.readLock();
        int[] roots = mmu.roots.hold(Roots.DIRECT_ROOTS); // the walks yield to writers
        try {
            for (int root : roots) {
                if (mmu.caps.dirtyLogByDirtyBit()) {
                    clearLeafBit(it, root, Spte.PG_LEVEL_4K, start, end, Spte.DIRTY);
                    clearLeafBit(it, root, Spte.PG_LEVEL_2M, start, end, Spte.W);
                } else {
                    clearLeafBit(it, root, Spte.PG_LEVEL_4K, start, end, Spte.W);
                }
            }
        } finally {
            mmu.roots.putAll(roots);
            mmu.lock.readUnlock();
        }
        mmu.flushRemoteTlbs(start, end - start);
    }

    /**
     * One read-lock walk of {@code root} down to {@code minLevel}, in an RCU read section, yielding to a waiting
     * writer: {@code bit} cleared by CAS on every leaf that has it. A lost CAS is looked at again with the entry as it
     * is now (perhaps a table, or frozen: skipped). Once the VM is bugged nothing more is changed.
     */
    private void clearLeafBit(TdpIter it, int root, int minLevel, long start, long end, long bit) {
        mmu.rcu.readLock();
        try {
            clearLeafBitRcu(it, root, minLevel, start, end, bit);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    private void clearLeafBitRcu(TdpIter it, int root, int minLevel, long start, long end, long bit) {
        TablePool pool = mmu.pool;
        MmuLock lock = mmu.lock;
        boolean tracing = mmu.host.tracing(); // read again after each yield
        for (mmu.walk(it, root, minLevel, start, end); it.valid; it.next()) {
            if (mmu.condReschedShared(it)) {
                tracing = mmu.host.tracing();
                continue; // the next step re-walks to the entry not handled yet
            }
            if (mmu.host.bugged())
                return;
            // this entry, and at 4K those after it in its table until a writer waits: the next step yields then
            long sptep = it.sptep, gfn = it.gfn, spte = it.oldSpte;
            int level = it.level, run = it.sideStepsLeft(), k = 0;
            while (true) {
                if (Spte.isShadowPresent(spte) && Spte.isLast(spte, level) && (spte & bit) != 0) {
                    // tdp_mmu_set_spte_atomic of a direct root's leaf changed in place: no backend hook mediates it
                    long p = sptep + k;
                    if (!pool.cas(p, spte, spte & ~bit)) {
                        spte = pool.get(p); // lost to a fault, the CPU or aging: look again
                        continue;
                    }
                    mmu.handleChangedSpte(p, gfn + k, spte, spte & ~bit, level, true, tracing);
                    spte &= ~bit;
                }
                if (k == run || lock.contended())
                    break;
                spte = pool.get(sptep + ++k);
            }
            it.sideStep(k, spte); // a leaf that became a table meanwhile is stepped into
        }
    }

    /**
     * {@code kvm_arch_mmu_enable_log_dirty_pt_masked} for {@code KVM_GET_DIRTY_LOG}/{@code KVM_CLEAR_DIRTY_LOG},
     * under the write lock: clears W on the leaves of the range in direct roots (mmu-writable stays, so a write
     * fault restores it); with D-bit logging only the 4K leaves of the pages just reported ({@code logged}: one bit
     * per page from {@code start}) lose D, as {@code kvm_tdp_mmu_clear_dirty_pt_masked} walks only the mask. A page
     * the guest dirtied after the harvest keeps D (the log reports it next time); clearing it too would lose that
     * write from the log, and without a flush leave a vCPU's writable TLB entry over a clean leaf (invariant 21).
     * Flushes when a leaf lost W, or always with {@code forceFlush}.
     */
    public void writeProtect(long start, long end, long[] logged, boolean forceFlush) {
        writeProtect(start, end, logged, forceFlush, false);
    }

    /**
     * {@link #writeProtect(long, long, long[], boolean)}; {@code hugeWriteTracked}: huge leaves also lose
     * mmu-writable ({@code write_protect_gfn}, as {@code KVM_CLEAR_DIRTY_LOG} protects them in initially-set mode),
     * so the 4K leaves a write fault splits them into must each take the slow path to become writable.
     */
    public void writeProtect(long start, long end, long[] logged, boolean forceFlush, boolean hugeWriteTracked) {
        boolean flush = forceFlush;
        // with D-bit logging 4K leaves only lose D (no flush needed for that alone); huge leaves are write-protected
        boolean dirtyBits = mmu.caps.dirtyLogByDirtyBit();
        TdpIter it = new TdpIter(mmu.pool);
        mmu.lock.writeLock(); // held already by GET and CLEAR, around their harvest
        try {
            boolean tracing = mmu.host.tracing();
            TablePool pool = mmu.pool;
            for (int root : mmu.roots.of(Roots.DIRECT_ROOTS)) {
                for (mmu.walk(it, root, Spte.PG_LEVEL_4K, start, end); it.valid; it.next()) {
                    // this entry, and at 4K those after it in its table
                    long sptep = it.sptep, gfn = it.gfn, spte = it.oldSpte;
                    int level = it.level, run = it.sideStepsLeft(), k = 0;
                    while (true) {
                        if (Spte.isShadowPresent(spte) && Spte.isLast(spte, level)) {
                            long g = gfn + k, p = sptep + k;
                            if (dirtyBits && level == Spte.PG_LEVEL_4K) {
                                // kvm_tdp_mmu_clear_dirty_pt_masked with a page-modification log: D off, W stays
                                if ((spte & Spte.DIRTY) != 0 && isSet(logged, g - start))
                                    spte = mmu.writeSpte(p, spte, Spte.clearDirty(spte), level, g, tracing);
                            } else {
                                boolean tracked = hugeWriteTracked && level > Spte.PG_LEVEL_4K;
                                if (tracked ? Spte.isMmuWritable(spte) : Spte.isWritable(spte)) {
                                    flush |= Spte.isWritable(spte);
                                    long newSpte = tracked ? Spte.clearMmuWritable(spte) : Spte.clearWritable(spte);
                                    spte = mmu.writeSpte(p, spte, newSpte, level, g, tracing);
                                }
                            }
                        }
                        if (k == run)
                            break;
                        spte = pool.get(sptep + ++k);
                    }
                    it.sideStep(k, spte);
                }
            }
            if (flush)
                mmu.flushRemoteTlbs(start, end - start);
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    private static boolean isSet(long[] bits, long index) {
        return (bits[(int) (index >>> 6)] & (1L << index)) != 0;
    }
}
