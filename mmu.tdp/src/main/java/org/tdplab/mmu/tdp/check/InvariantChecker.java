package org.tdplab.mmu.tdp.check;

import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.Tlb;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * The invariants of the kernel's TDP MMU (spec §8) that hold without a firmware backend, checked by walking
 * every root. Run with the MMU write lock held, so no operation is half done. Each violation names its
 * invariant.
 */
public final class InvariantChecker {
    /** How many invariants {@link #run} checks. */
    public static final int CHECKED = 17;

    private final CheckTarget vm;
    private final TdpMmu mmu;
    private final TablePool pool;
    /** The one walker of every check: read-only, with the write lock held. */
    private final TdpIter it;
    private final List<String> out = new ArrayList<>();
    private final long[] leaves = new long[4];
    private long tables;
    /** Linked tables flagged {@code nx_huge_page_disallowed}. */
    private long nxTables;

    public InvariantChecker(CheckTarget vm) {
        this.vm = vm;
        this.mmu = vm.mmu();
        this.pool = mmu.pool;
        this.it = new TdpIter(pool);
    }

    public List<String> run() {
        for (int root : mmu.roots.all())
            checkRoot(root);
        checkStats();
        checkTlbs();
        return out;
    }

    private void fail(int invariant, String format, Object... args) {
        if (out.size() < 100)
            out.add("inv " + invariant + ": " + String.format(format, args));
    }

    // ---- roots and tables ---------------------------------------------------------------------------------

    private void checkRoot(int root) {
        if (!pool.isLive(root)) {
            fail(14, "root %d is on the root list but was freed", root);
            return;
        }
        int count = pool.rootCount(root);
        if (!pool.isInvalid(root) && count < 1)
            fail(14, "valid root %d has refcount %d", root, count);
        if (pool.level(root) != mmu.rootLevel)
            fail(2, "root %d has level %d, the VM's root level is %d", root, pool.level(root), mmu.rootLevel);
        boolean mirror = pool.isMirror(root);
        // direct roots index by the aliased GFN; tables, like the kernel's sp->gfn, record natural GFNs. The walk
        // covers the whole index space (no direct bits given), so an entry in the wrong half is seen too.
        long bits = mmu.roots.gfnBits(root);
        for (it.start(root, Spte.PG_LEVEL_4K, 0, 1L << (9 * pool.level(root)), 0); it.valid; it.next()) {
            long gfn = it.gfn & ~bits;
            long spte = it.oldSpte;
            if (!isShadowPresent(spte))
                checkNonPresent(root, mirror, gfn, it.level, spte);
            else if (isLast(spte, it.level))
                checkLeaf(root, mirror, gfn, it.level, spte);
            else
                checkChild(root, it.sptep, gfn, it.level, spte);
        }
    }

    private void checkNonPresent(int root, boolean mirror, long gfn, int level, long spte) {
        if (Spte.isFrozen(spte)) {
            fail(5, "SPTE for gfn 0x%x level %d is FROZEN with no operation in progress", gfn, level);
            return;
        }
        if (spte == Spte.SHADOW_NONPRESENT_VALUE)
            return;
        if (!mirror && Spte.isMmio(spte, mmu.caps.mmioValue()))
            return;
        fail(4, "non-present SPTE 0x%x for gfn 0x%x level %d is neither the non-present value nor MMIO", spte, gfn,
                level);
    }

    /** The link from a present non-leaf entry to the table below it; the walk then goes down into that table. */
    private void checkChild(int root, long sptep, long gfn, int level, long spte) {
        if (level == Spte.PG_LEVEL_4K) {
            fail(2, "non-leaf SPTE at level 1 for gfn 0x%x", gfn);
            return;
        }
        int child = pool.idOfPfn(Spte.pfn(spte));
        if (child == 0 || !pool.isLive(child)) {
            fail(22, "SPTE for gfn 0x%x level %d points at pfn 0x%x, which is no live table", gfn, level,
                    Spte.pfn(spte));
            return;
        }
        if (pool.level(child) != level - 1)
            fail(2, "child table %d of gfn 0x%x has level %d, expected %d", child, gfn, pool.level(child), level - 1);
        if (pool.isMirror(child) != pool.isMirror(root))
            fail(2, "child table %d of gfn 0x%x has another root role than its root", child, gfn);
        if (pool.ptep(child) != sptep)
            fail(2, "child table %d does not point back at the SPTE that links it", child);
        if (pool.gfn(child) % Spte.pagesPerHpage(level) != 0)
            fail(1, "table %d at level %d has gfn 0x%x not aligned to its coverage", child, level - 1,
                    pool.gfn(child));
        if (pool.gfn(child) != gfn)
            fail(1, "child table %d has gfn 0x%x, its parent entry covers 0x%x", child, pool.gfn(child), gfn);
        tables++;
        if (pool.nxListed(child)) {
            nxTables++;
            if (!pool.nxHugePageDisallowed(child))
                fail(0, "table %d is on the possible-NX list without its disallowed flag", child);
        }
    }

    private void checkLeaf(int root, boolean mirror, long gfn, int level, long spte) {
        leaves[level]++;
        long pages = Spte.pagesPerHpage(level);
        long pfn = Spte.pfn(spte);
        if (pfn % pages != 0)
            fail(1, "leaf for gfn 0x%x level %d maps pfn 0x%x, not aligned to its level", gfn, level, pfn);
        if (!Spte.writableTripleValid(spte))
            fail(6, "leaf for gfn 0x%x has an illegal (host-writable, mmu-writable, W) triple: 0x%x", gfn, spte);
        if (vm.bugged())
            return;
        Memslot slot = vm.memslots().find(gfn);
        if (slot == null || slot.isInvalid() && !mmu.invalidation.inProgress(gfn)) {
            fail(17, "leaf for gfn 0x%x level %d lies in no memslot", gfn, level);
            return;
        }
        if (mmu.invalidation.inProgress(gfn))
            return;
        boolean attrPrivate = vm.attributes().isPrivate(gfn);
        boolean leafPrivate = mirror || (!mmu.caps.mirroredPt() && slot.isGmem() && attrPrivate);
        if (mmu.caps.mirroredPt() && mirror != attrPrivate)
            fail(7, "%s root maps gfn 0x%x whose attribute is %s", mirror ? "mirror" : "direct", gfn,
                    attrPrivate ? "private" : "shared");
        if (level > 1)
            checkHuge(slot, gfn, level, leafPrivate, spte);
        else if (slot.isDirtyLogging() && Spte.isWritable(spte) && !slot.isDirty(gfn) && !mmu.caps.dirtyLogByDirtyBit())
            fail(21, "writable leaf at gfn 0x%x in dirty-logged memslot %d is not marked dirty", gfn, slot.id());
        // a VM that shares in place maps the guest_memfd page for shared GFNs of a guest_memfd memslot too
        boolean gmemBacked = leafPrivate || mmu.caps.sharedInPlace() && slot.isGmem();
        long want = gmemBacked ? gmemPfn(slot, gfn) : slot.hvaPfnIfPresent(gfn);
        if (leafPrivate && !slot.isGmem())
            fail(8, "private leaf for gfn 0x%x in memslot %d, which has no guest_memfd", gfn, slot.id());
        else if (want < 0 || want != pfn)
            fail(leafPrivate ? 8 : 19, "%s leaf for gfn 0x%x maps pfn 0x%x, the %s backing is 0x%x",
                    leafPrivate ? "private" : "shared", gfn, pfn, gmemBacked ? "guest_memfd" : "host", want);
    }

    private static long gmemPfn(Memslot slot, long gfn) {
        return slot.isGmem() ? slot.gmem().pfnIfPresent(slot.gmemIndex(gfn)) : -1;
    }

    /**
     * Invariants 20 and 21: a huge leaf covers one memslot and one attribute, no more than its backing allows, and
     * is never writable in a dirty-logged memslot.
     */
    private void checkHuge(Memslot slot, long gfn, int level, boolean leafPrivate, long spte) {
        long pages = Spte.pagesPerHpage(level);
        if (gfn < slot.baseGfn() || gfn + pages > slot.endGfn())
            fail(20, "%s leaf at gfn 0x%x crosses the edge of memslot %d", Spte.levelName(level), gfn, slot.id());
        // without eager splitting a huge page stays, write-protected, until a write splits it
        if (slot.isDirtyLogging() && Spte.isWritable(spte) && !allDirty(slot, gfn, pages))
            fail(21, "writable %s leaf at gfn 0x%x in dirty-logged memslot %d", Spte.levelName(level), gfn, slot.id());
        if (mmu.caps.privateMem() && slot.isMixed(gfn, level))
            fail(20, "%s leaf at gfn 0x%x covers GFNs of mixed attributes", Spte.levelName(level), gfn);
        if (leafPrivate || mmu.caps.sharedInPlace() && slot.isGmem()) {
            int order = slot.gmem().folioOrder(slot.gmemIndex(gfn));
            if (order < 9 * (level - 1))
                fail(20, "private %s leaf at gfn 0x%x is larger than its guest_memfd folio (order %d)",
                        Spte.levelName(level), gfn, order);
            if (leafPrivate && level > mmu.caps.privateMaxLevel())
                fail(20, "private %s leaf at gfn 0x%x exceeds the backend's private max level %d",
                        Spte.levelName(level), gfn, mmu.caps.privateMaxLevel());
        } else if (slot.hostMappingLevel(gfn) < level) {
            fail(20, "shared %s leaf at gfn 0x%x exceeds the host mapping level %d", Spte.levelName(level), gfn,
                    slot.hostMappingLevel(gfn));
        }
    }

    // ---- bookkeeping -------------------------------------------------------------------------------------

    private void checkStats() {
        for (int level = 1; level <= 3; level++) {
            long counted = mmu.stats.get(Stat.pages(level));
            if (counted != leaves[level])
                fail(0, "stat %s is %d but the roots hold %d such leaves", Stat.pages(level).kernelName, counted,
                        leaves[level]);
        }
        long nx = mmu.stats.get(Stat.NX_LPAGE_SPLITS);
        if (nx != nxTables || mmu.nx.possible() != nxTables)
            fail(0, "stat nx_lpage_splits is %d and the possible-NX list holds %d, but the roots link %d tables split "
                    + "for NX", nx, mmu.nx.possible(), nxTables);
        if (mmu.stats.get(Stat.TDP_MMU_PAGES) != tables)
            fail(0, "stat tdp_mmu_pages is %d but the roots link %d tables", mmu.stats.get(Stat.TDP_MMU_PAGES),
                    tables);
    }

    /** No vCPU whose TLB is current caches a translation its root no longer gives. */
    private void checkTlbs() {
        for (Vcpu v : vm.vcpus()) {
            if (!vm.guestMode().current(v) || v.roots.direct == 0 || pool.isInvalid(v.roots.direct) || v.roots.reload)
                continue;
            v.tlb.forEach((key, value) -> {
                long indexGfn = key & Tlb.GFN_MASK;
                boolean encrypted = (key & Tlb.ENCRYPTED) != 0;
                if ((key & Tlb.VIA_MIRROR) != 0)
                    return; // private translations of mirrored VMs come from the backend's table
                long now = lookup(v.roots.direct, indexGfn);
                boolean writable = (value & Tlb.W) != 0;
                if (writable && now >= 0 && !writeWouldBeLogged(v.roots.direct, indexGfn))
                    fail(21, "vCPU %d caches gpa 0x%x writable over a clean leaf of a dirty-logged memslot: a write "
                            + "would be lost to the log", v.id, indexGfn << 12);
                if (now < 0 || (now & ~(1L << 62)) != Tlb.pfn(value) || writable && (now & (1L << 62)) == 0)
                    fail(0, "stale TLB: vCPU %d caches gpa 0x%x%s -> pfn 0x%x%s, the tables give %s", v.id,
                            indexGfn << 12, encrypted ? " (encrypted)" : "", Tlb.pfn(value), writable ? " W" : "",
                            now < 0 ? "no mapping" : String.format("pfn 0x%x", now & ~(1L << 62)));
            });
            checkCachedTables(v);
        }
    }

    /**
     * No vCPU whose TLB is current caches, for a root it uses, a 4K table its root no longer links at that region
     * (the paging-structure cache): a table unlinked without a flush would still be walked from there.
     */
    private void checkCachedTables(Vcpu v) {
        v.tlb.forEachTable((root, indexGfn, table) -> {
            if (root != v.roots.direct && root != v.roots.mirror)
                return; // tagged with a root the vCPU no longer walks: never looked up
            lastSpte(root, indexGfn);
            int linked = it.level == Spte.PG_LEVEL_4K ? it.tableAt(Spte.PG_LEVEL_4K) : 0;
            if (linked != table)
                fail(0, "stale paging-structure cache: vCPU %d caches table %d for gpa 0x%x in root %d, the root "
                        + "links %s there", v.id, table, indexGfn << 12, root,
                        linked == 0 ? "no 4K table" : "table " + linked);
        });
    }

    /**
     * A side-effect-free walk of {@code root} to the deepest entry for {@code indexGfn}, as the hardware indexes it
     * (direct bits included): the iterator is left there.
     */
    private long lastSpte(int root, long indexGfn) {
        it.walkTo(root, mmu.rootLevel, indexGfn, 0, Spte.PG_LEVEL_4K);
        return it.oldSpte;
    }

    /** The 4K pfn the tables give (bit 62 = writable), or -1. */
    private long lookup(int root, long indexGfn) {
        long spte = lastSpte(root, indexGfn);
        if (!isShadowPresent(spte) || !isLast(spte, it.level))
            return -1;
        return (Spte.pfn(spte) + (indexGfn & (Spte.pagesPerHpage(it.level) - 1)))
                | (Spte.isWritable(spte) || staleWritableAllowed(spte, indexGfn) ? 1L << 62 : 0);
    }

    /**
     * A leaf that lost W without losing mmu-writable (aging's access tracking, or a fast page fault that restored
     * only R/X): the kernel flushes only when mmu-writable goes away, so a vCPU may still cache it writable. That is
     * sound for dirty logging as long as the page is already marked dirty in the current log (invariant 21).
     */
    private boolean staleWritableAllowed(long spte, long indexGfn) {
        if (!Spte.isMmuWritable(spte))
            return false;
        long gfn = indexGfn & ~mmu.directBits;
        Memslot slot = vm.memslots().find(gfn);
        return slot == null || !slot.isDirtyLogging() || slot.isDirty(gfn);
    }

    /**
     * Invariant 21 with D-bit logging: a write through a cached writable translation sets no D bit, so the page must
     * be logged already (marked dirty, or its D bit set for the page-modification log).
     */
    private boolean writeWouldBeLogged(int root, long indexGfn) {
        if (!mmu.caps.dirtyLogByDirtyBit())
            return true;
        long gfn = indexGfn & ~mmu.directBits;
        Memslot slot = vm.memslots().find(gfn);
        if (slot == null || !slot.isDirtyLogging() || slot.isDirty(gfn))
            return true;
        long spte = lastSpte(root, indexGfn);
        if (!isShadowPresent(spte) || !isLast(spte, it.level))
            return true;
        return !Spte.isWritable(spte) || (spte & Spte.DIRTY) != 0;
    }

    /** Every page of a huge leaf is marked dirty (an initially-set log not yet cleared there): W is harmless. */
    private static boolean allDirty(Memslot slot, long gfn, long pages) {
        for (long g = gfn; g < gfn + pages; g++)
            if (!slot.isDirty(g))
                return false;
        return true;
    }
}
