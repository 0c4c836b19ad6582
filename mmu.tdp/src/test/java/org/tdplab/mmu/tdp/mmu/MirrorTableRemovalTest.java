package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * {@code handle_removed_pt} of a mirror table that still maps pages, under the write lock: the backend hears each
 * leaf's removal ({@code remove_external_spte}) before the table's own free ({@code free_external_spt}), the page
 * stats drop, the table goes back after a grace period; recovery makes no huge leaf of a table with no present leaf.
 */
class MirrorTableRemovalTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M;

    private final MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
    private final TdpMmu mmu = h.mmu;
    private final List<String> calls = new ArrayList<>();

    MirrorTableRemovalTest() {
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange c) {
                calls.add(String.format("set 0x%x %d %s", c.gfn(), c.level(), c.after().present() ? "+" : "-"));
                return HookStatus.OK;
            }

            @Override
            public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
                calls.add(String.format("free %s 0x%x %d", root, gfn, level));
                return HookStatus.OK;
            }
        };
    }

    @Test
    void aPopulatedMirrorTableGoesLeafByLeafThenWhole() {
        int mirror = h.root(true);
        h.map(mirror, 0x201, L4K, true);
        h.map(mirror, 0x203, L4K, true);
        int tables = h.pool.liveTables();
        calls.clear();
        mmu.lock.writeLock();
        try {
            TdpIter it = new TdpIter(h.pool);
            mmu.walk(it, mirror, L2M, 0x200, 0x201);
            while (it.valid && it.level > L2M)
                it.next();
            assertEquals(L2M, it.level);
            assertTrue(Spte.isShadowPresent(it.oldSpte) && !Spte.isLast(it.oldSpte, L2M), "a table entry");
            mmu.setSpte(it, Spte.SHADOW_NONPRESENT_VALUE); // the 2M entry that points at the 4K table
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(List.of("set 0x201 1 -", "set 0x203 1 -", "free MIRROR 0x200 1"), calls);
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K));
        assertFalse(h.mapped(mirror, 0x201));
        mmu.rcu.synchronize();
        assertEquals(tables - 1, h.pool.liveTables(), "the 4K table is back in the pool");
        h.assertQuiescent();
    }

    @Test
    void recoveryMakesNoHugeLeafOfATableWithNothingMapped() {
        int direct = h.root(false);
        h.map(direct, 0x201, L4K, true);
        mmu.lock.writeLock();
        try {
            mmu.zap.zapLeafs(Roots.DIRECT_ROOTS, 0x200, 0x400); // the table stays, empty
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(0, mmu.hugePages.recover(0x200, 0x400, gfn -> L2M));
        assertFalse(h.mapped(direct, 0x200));
        assertFalse(h.mapped(direct, 0x201));
        h.assertQuiescent();
    }
}
