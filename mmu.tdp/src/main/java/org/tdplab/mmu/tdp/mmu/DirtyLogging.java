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
     * {@code kvm_tdp_mmu_wrprot_slot} / {@code kvm_tdp_mmu_clear_dirty_pt_masked}: clears W on every leaf of the
     * range in direct roots (mmu-writable stays, so a write fault restores it); with D-bit logging 4K leaves lose D
     * instead. Flushes when a leaf lost W, or always with {@code forceFlush}.
     */
    public void writeProtect(long start, long end, boolean forceFlush) {
        writeProtect(start, end, null, forceFlush);
    }

    /**
     * {@link #writeProtect(long, long, boolean)} for {@code KVM_GET_DIRTY_LOG}/{@code KVM_CLEAR_DIRTY_LOG}: with
     * D-bit logging only the 4K leaves of the pages just reported ({@code logged}: one bit per page from
     * {@code start}) lose D, as {@code kvm_tdp_mmu_clear_dirty_pt_masked} walks only the mask. A page the guest
     * dirtied after the harvest keeps D (the log reports it next time); clearing it too would lose that write from
     * the log, and without a flush leave a vCPU's writable TLB entry over a clean leaf (invariant 21).
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
        mmu.lock.writeLock();
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
                                if ((spte & Spte.DIRTY) != 0 && (logged == null || isSet(logged, g - start)))
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
