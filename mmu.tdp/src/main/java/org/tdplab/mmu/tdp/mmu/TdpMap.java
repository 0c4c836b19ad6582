package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;
import static org.tdplab.mmu.tdp.spte.Spte.isFrozen;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.tdp.pt.Rcu;
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
        return map(f, root, mmu.rcu.reader());
    }

    /** {@link #map(PageFault, int)} with the calling thread's reader of the MMU's RCU ({@link Rcu#reader}). */
    public int map(PageFault f, int root, Rcu.Reader reader) {
        mmu.rcu.readLock(reader);
        try {
            return mapInRcu(f, root);
        } finally {
            mmu.rcu.readUnlock(reader);
        }
    }

    /** {@link #map}'s walk and install, inside the RCU read section the tables it walks need. */
    private int mapInRcu(PageFault f, int root) {
        TdpIter it = f.iter;
        boolean nx = mmu.caps.nxHugePages();
        boolean mirror = pool.isMirror(root);
        // with the NX mitigation the goal may step down on the way (disallowed_hugepage_adjust): walk to 4K
        // (and in a mirror root, where a table is never merged into a huge leaf)
        int minLevel = nx || mirror ? Spte.PG_LEVEL_4K : f.goalLevel;
        if (minLevel == f.goalLevel && f.gfn < mmu.maxGfn())
            // the loop only passes the present tables above the first entry that needs it: go there at once,
            // reading each entry on the way once, as a step down of the stepping walk reads it twice
            it.walkTo(root, mmu.rootLevel, f.gfn, mmu.roots.gfnBits(root), minLevel);
        else
            mmu.walk(it, root, minLevel, f.gfn, f.gfn + 1);
        for (; it.valid; it.next()) {
            if (nx || mirror)
                disallowedHugepageAdjust(f, it, mirror);
            if (isFrozen(it.oldSpte))
                return f.retry("a frozen SPTE on the way (another thread is changing it)");
            if (it.level == f.goalLevel)
                break;
            if (isShadowPresent(it.oldSpte) && !isLast(it.oldSpte, it.level))
                continue;
            if (installChild(it, root, f) != TdpMmu.OK)
                return f.retry("linking a table lost a race or its hook was busy");
        }
        if (!it.valid || it.level != f.goalLevel)
            return f.retry("the walk did not reach the goal level");
        return mapTarget(f, it);
    }

    /** A new child table where the walk found nothing, or in place of a huge leaf above the goal level. */
    private int installChild(TdpIter it, int root, PageFault f) {
        boolean hugeLeaf = isShadowPresent(it.oldSpte);
        if (hugeLeaf && pool.isMirror(root)) {
            mmu.host.bug("splitting a huge mirror leaf in the fault path at gfn 0x" + Long.toHexString(it.gfn));
            return TdpMmu.BUSY;
        }
        int child = mmu.allocChild(it, root);
        // kvm_tdp_mmu_map flags every table an NX-disallowed fault makes (a later fault steps down at it), and lists
        // the ones that replace what could have been a huge page but for the mitigation: possible NX huge pages
        boolean nxSplit = f.hugePageDisallowed && f.reqLevel >= it.level;
        if (f.hugePageDisallowed)
            pool.setNxHugePageDisallowed(child, true);
        int r = hugeLeaf ? mmu.splitHugePage(it, child) : mmu.linkTable(it, child);
        if (r != TdpMmu.OK) {
            mmu.freeUnlinked(child);
            return r;
        }
        if (nxSplit)
            mmu.nx.track(child);
        return r;
    }

    /**
     * {@code disallowed_hugepage_adjust}: a fault whose goal is a level where a table split for NX already sits
     * steps down, so a read or write does not rebuild the huge page an exec fault just split. In a mirror root any
     * table at the goal level makes it step down: the backend's copy cannot merge a table into a huge leaf, so once
     * part of a huge page was split, the rest is mapped small.
     */
    private void disallowedHugepageAdjust(PageFault f, TdpIter it, boolean mirror) {
        long spte = it.oldSpte;
        if (it.level > Spte.PG_LEVEL_4K && it.level == f.goalLevel && isShadowPresent(spte) && !isLast(spte, it.level)
                && (mirror || pool.nxHugePageDisallowed(pool.idOfPfn(Spte.pfn(spte))))) {
            // the pfn was aligned to the old goal: put back the GFN's bits for the level below
            f.pfn |= f.gfn & (Spte.pagesPerHpage(it.level) - Spte.pagesPerHpage(it.level - 1));
            f.goalLevel--;
        }
    }

    /** {@code tdp_mmu_map_handle_target_level}. */
    private int mapTarget(PageFault f, TdpIter it) {
        long old = it.oldSpte;
        if (isShadowPresent(old) && isLast(old, it.level) && (f.prefetch || accessAllowed(f, old)))
            return RET_PF_SPURIOUS;
        long newSpte = f.hasSlot
                ? Spte.makeLeaf(f.pfn, it.level, f.mapWritable, f.hostWritable,
                        it.level == Spte.PG_LEVEL_4K || !mmu.caps.nxHugePages(), !f.prefetch, mmu.caps.adDisabled())
                : Spte.makeMmio(f.gfn, f.mmioGeneration, mmu.caps.mmioValue());
        int ret = RET_PF_FIXED;
        if (newSpte == old)
            ret = RET_PF_SPURIOUS;
        else if (mmu.setSpteAtomic(it, newSpte) != TdpMmu.OK)
            return f.retry("setting the leaf lost a race or its hook was busy");
        else if (isShadowPresent(old) && (!isLast(old, it.level) || Spte.leafChangeNeedsTlbFlush(old, newSpte)))
            // a present table (or a leaf losing mmu-writable) was replaced: vCPUs may cache the old translation
            mmu.flushRemoteTlbs(Spte.gfnRoundForLevel(it.gfn, it.level), Spte.pagesPerHpage(it.level));
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
