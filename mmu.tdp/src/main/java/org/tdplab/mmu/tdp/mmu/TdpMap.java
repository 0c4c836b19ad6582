package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_RETRY;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;
import static org.tdplab.mmu.tdp.spte.Spte.isFrozen;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/** {@code kvm_tdp_mmu_map}: installs the translation for a fault, under the read lock, with CAS. */
public final class TdpMap {
    private final TdpMmu mmu;
    private final TablePool pool;

    TdpMap(TdpMmu mmu) {
        this.mmu = mmu;
        this.pool = mmu.pool;
    }

    /** Walks toward the fault's GFN in {@code root}, linking or splitting tables down to the goal level. */
    public int map(PageFault f, int root) {
        TdpIter it = f.iter;
        mmu.rcu.readLock();
        try {
            for (it.start(root, mmu.rootLevel, f.goalLevel, f.gfn, f.gfn + 1, mmu.gfnBits(root)); it.valid; it.next()) {
                if (isFrozen(it.oldSpte))
                    return RET_PF_RETRY;
                if (it.level == f.goalLevel)
                    break;
                if (isShadowPresent(it.oldSpte) && !isLast(it.oldSpte, it.level))
                    continue;
                if (installChild(it, root) != TdpMmu.OK)
                    return RET_PF_RETRY;
            }
            if (!it.valid || it.level != f.goalLevel)
                return RET_PF_RETRY;
            return mapTarget(f, it);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** A new child table where the walk found nothing, or in place of a huge leaf above the goal level. */
    private int installChild(TdpIter it, int root) {
        boolean hugeLeaf = isShadowPresent(it.oldSpte);
        if (hugeLeaf && pool.isMirror(root)) {
            mmu.host.bug("splitting a huge mirror leaf in the fault path at gfn 0x" + Long.toHexString(it.gfn));
            return TdpMmu.BUSY;
        }
        int child = mmu.allocChild(it, root);
        int r = hugeLeaf ? mmu.splitHugePage(it, child) : mmu.linkTable(it, child);
        if (r != TdpMmu.OK)
            mmu.freeUnlinked(child);
        return r;
    }

    /** {@code tdp_mmu_map_handle_target_level}. */
    private int mapTarget(PageFault f, TdpIter it) {
        long old = it.oldSpte;
        if (isShadowPresent(old) && isLast(old, it.level) && (f.prefetch || accessAllowed(f, old)))
            return RET_PF_SPURIOUS;
        long newSpte = f.hasSlot
                ? Spte.makeLeaf(f.pfn, it.level, f.mapWritable, f.hostWritable, true, !f.prefetch, mmu.caps.adDisabled())
                : Spte.makeMmio(f.gfn, f.mmioGeneration, mmu.caps.mmioValue());
        int ret = RET_PF_FIXED;
        if (newSpte == old)
            ret = RET_PF_SPURIOUS;
        else if (mmu.setSpteAtomic(it, newSpte) != TdpMmu.OK)
            return RET_PF_RETRY;
        else if (isShadowPresent(old) && (!isLast(old, it.level) || Spte.leafChangeNeedsTlbFlush(old, newSpte)))
            // a present table (or a leaf losing mmu-writable) was replaced: vCPUs may cache the old translation
            mmu.host.flushRemoteTlbs(Spte.gfnRoundForLevel(it.gfn, it.level), Spte.pagesPerHpage(it.level));
        // an MMIO SPTE, new or already there, means the access is emulated
        if (!f.hasSlot) {
            mmu.stats.inc(Stat.PF_MMIO_SPTE_CREATED);
            return RET_PF_EMULATE;
        }
        return ret;
    }

    /** {@code is_access_allowed}. */
    public static boolean accessAllowed(PageFault f, long spte) {
        if (f.exec && (spte & Spte.X) == 0)
            return false;
        if (f.write && !Spte.isWritable(spte))
            return false;
        return (spte & Spte.R) != 0;
    }
}
