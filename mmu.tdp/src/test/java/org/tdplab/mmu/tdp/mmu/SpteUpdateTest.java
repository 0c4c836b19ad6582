package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The two ways an SPTE changes, at their edges: a frozen entry is never overwritten, a lost CAS refreshes the
 * snapshot, a mirror entry is never zapped atomically nor replaced while present, a refused install leaves the entry
 * as it was, and a leaf whose pfn changes in place is a bug (invariant 3).
 */
class SpteUpdateTest {
    private static final int L4K = Spte.PG_LEVEL_4K;

    /** An iterator at the 4K entry for {@code gfn} (tables linked by a map first). */
    private static TdpIter at(MmuHarness h, int root, long gfn) {
        TdpIter it = new TdpIter(h.pool);
        h.mmu.rcu.readLock(); // the callers' tables stay (nothing frees them meanwhile): the section is the walk's
        try {
            for (h.mmu.walk(it, root, L4K, gfn, gfn + 1); it.valid && it.level > L4K; it.next())
                ;
        } finally {
            h.mmu.rcu.readUnlock();
        }
        assertEquals(L4K, it.level);
        return it;
    }

    private static long leaf(long pfn) {
        return Spte.makeLeaf(pfn, L4K, true, true, true, true, false);
    }

    @Test
    void aFrozenEntryIsNeverOverwrittenAndALostCasRefreshesTheSnapshot() {
        MmuHarness h = MmuHarness.ordinary();
        int root = h.root(false);
        h.map(root, 0x10, L4K, true);
        TdpIter it = at(h, root, 0x11);
        h.pool.set(it.sptep, Spte.FROZEN_SPTE);
        it.refresh();
        assertEquals(TdpMmu.BUSY, h.mmu.setSpteAtomic(it, leaf(0x11)));
        assertEquals(Spte.FROZEN_SPTE, h.pool.get(it.sptep), "a frozen entry belongs to another thread");
        h.pool.set(it.sptep, Spte.SHADOW_NONPRESENT_VALUE);

        it.oldSpte = leaf(0x999); // a stale snapshot
        assertEquals(TdpMmu.BUSY, h.mmu.setSpteAtomic(it, leaf(0x11)));
        assertEquals(Spte.SHADOW_NONPRESENT_VALUE, it.oldSpte, "the snapshot was refreshed");
        assertEquals(TdpMmu.OK, h.mmu.setSpteAtomic(it, leaf(0x11)), "the retry lands");
        assertEquals(leaf(0x11), h.pool.get(it.sptep));
        assertTrue(h.bugs.isEmpty());
    }

    @Test
    void aLeafChangingItsPfnInPlaceIsABug() {
        MmuHarness h = MmuHarness.ordinary();
        int root = h.root(false);
        h.map(root, 0x20, L4K, true);
        TdpIter it = at(h, root, 0x20);
        h.mmu.lock.writeLock();
        try {
            h.mmu.setSpte(it, leaf(0x777));
        } finally {
            h.mmu.lock.writeUnlock();
        }
        assertEquals(List.of("present leaf at gfn 0x20 changed its pfn in place"), h.bugs);
        assertEquals(List.of("inv 3: present leaf at gfn 0x20 changed its pfn in place"), h.mmu.opViolations());
    }

    @Test
    void aPlainWriteOfAFrozenSpteIsABug() {
        MmuHarness h = MmuHarness.ordinary();
        int root = h.root(false);
        h.map(root, 0x30, L4K, true);
        TdpIter it = at(h, root, 0x31);
        h.mmu.lock.writeLock();
        try {
            h.mmu.setSpte(it, Spte.FROZEN_SPTE);
        } finally {
            h.mmu.lock.writeUnlock();
        }
        assertEquals(List.of("plain write of a FROZEN SPTE at gfn 0x31"), h.bugs);
    }

    @Test
    void mirrorEntriesAreNeverZappedAtomicallyNorReplacedWhilePresent() {
        MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        int mirror = h.root(true);
        h.map(mirror, 0x40, L4K, true);
        TdpIter it = at(h, mirror, 0x40);
        long present = it.oldSpte;
        assertEquals(TdpMmu.BUSY, h.mmu.setSpteAtomic(it, Spte.SHADOW_NONPRESENT_VALUE));
        assertEquals(List.of("atomic zap of a mirror SPTE at gfn 0x40"), h.bugs);
        h.bugs.clear();
        assertEquals(TdpMmu.BUSY, h.mmu.setSpteAtomic(it, leaf(0x41)));
        assertEquals(List.of("replacing a present mirror SPTE at gfn 0x40"), h.bugs);
        assertEquals(present, h.pool.get(it.sptep), "nothing changed");

        h.bugs.clear();
        h.mmu.lock.writeLock();
        try {
            h.mmu.setSpte(it, leaf(0x100040)); // same pfn, a plain write of a present value
        } finally {
            h.mmu.lock.writeUnlock();
        }
        assertEquals(List.of("plain write of a present value to a mirror SPTE at gfn 0x40"), h.bugs);
    }

    @Test
    void aRefusedMirrorInstallLeavesTheEntryAsItWas() {
        MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        int mirror = h.root(true);
        h.map(mirror, 0x50, L4K, true);
        int[] busy = { 1 };
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                return busy[0]-- > 0 ? HookStatus.BUSY : HookStatus.OK;
            }
        };
        TdpIter it = at(h, mirror, 0x51);
        assertEquals(TdpMmu.BUSY, h.mmu.setSpteAtomic(it, leaf(0x100051)));
        assertEquals(Spte.SHADOW_NONPRESENT_VALUE, h.pool.get(it.sptep), "restored, not left frozen");
        long pages = h.mmu.stats.get(Stat.PAGES_4K);
        assertEquals(TdpMmu.OK, h.mmu.setSpteAtomic(it, leaf(0x100051)));
        assertEquals(leaf(0x100051), h.pool.get(it.sptep));
        assertEquals(pages + 1, h.mmu.stats.get(Stat.PAGES_4K));
        assertTrue(h.bugs.isEmpty(), h.bugs::toString);
    }

    @Test
    void tearingDownAMirrorTableRemovesEachLeafThenFreesTheTable() {
        MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        java.util.List<String> calls = new java.util.ArrayList<>();
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                if (change.isLeafRemoval())
                    calls.add("remove 0x" + Long.toHexString(change.gfn()));
                return HookStatus.OK;
            }

            @Override
            public HookStatus freeExternalSpt(org.tdplab.mmu.api.RootKind root, long gfn, int level) {
                calls.add("free 0x" + Long.toHexString(gfn) + " L" + level);
                return HookStatus.OK;
            }
        };
        int mirror = h.root(true);
        h.map(mirror, 0x60, L4K, true);
        h.map(mirror, 0x61, L4K, true);
        calls.clear();
        h.mmu.lock.writeLock();
        try {
            h.mmu.zap.zapRoot(mirror, false);
        } finally {
            h.mmu.lock.writeUnlock();
        }
        assertEquals(List.of("remove 0x60", "remove 0x61", "free 0x0 L1", "free 0x0 L2", "free 0x0 L3"), calls);
        assertTrue(h.bugs.isEmpty(), h.bugs::toString);

        h.mmu.lock.readLock();
        try {
            h.mmu.zap.zapRoot(mirror, true);
        } finally {
            h.mmu.lock.readUnlock();
        }
        assertTrue(h.bugs.isEmpty(), "an empty root: nothing to tear down");
    }
}
