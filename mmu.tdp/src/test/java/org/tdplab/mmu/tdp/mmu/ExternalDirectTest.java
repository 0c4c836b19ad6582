package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * A direct root the backend mediates ({@code externalDirect}): each change of a direct leaf reaches the backend
 * once — a link or an install under the read lock through the frozen protocol, a zap or split after the core made
 * it — while a table entry's removal does not; a refusal of a change already made bugs the
 * VM.
 */
class ExternalDirectTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M;

    private final MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withExternalDirect());
    private final TdpMmu mmu = h.mmu;
    private final List<SpteChange> sets = new ArrayList<>(), splits = new ArrayList<>();
    private HookStatus answer = HookStatus.OK;
    private final int direct;

    ExternalDirectTest() {
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                sets.add(change);
                return answer;
            }

            @Override
            public HookStatus splitExternalSpt(SpteChange change) {
                splits.add(change);
                return answer;
            }
        };
        direct = h.root(false);
    }

    @Test
    void anInstallAndItsZapReachTheBackendOnceEach() {
        assertEquals(PageFault.RET_PF_FIXED, h.map(direct, 0x10, L4K, true));
        assertEquals(4, sets.size(), "the three table links and the leaf, each once: " + sets);
        for (int i = 0; i < 3; i++) {
            assertEquals(4 - i, sets.get(i).level());
            assertFalse(sets.get(i).before().present());
            assertTrue(sets.get(i).after().present() && !sets.get(i).after().leaf());
        }
        SpteChange install = sets.get(3);
        assertEquals(RootKind.DIRECT, install.root());
        assertEquals(0x10, install.gfn());
        assertFalse(install.before().present());
        assertTrue(install.after().present() && install.after().leaf());

        mmu.lock.writeLock();
        try {
            assertTrue(mmu.zap.zapLeafs(Roots.DIRECT_ROOTS, 0, 0x200));
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(5, sets.size(), "one report of the zap: " + sets);
        assertTrue(sets.get(4).before().present());
        assertFalse(sets.get(4).after().present());
        assertTrue(splits.isEmpty());

        mmu.lock.writeLock();
        try {
            mmu.zap.zapRoot(direct, false); // only table entries are left: their removal is not reported
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(5, sets.size(), "the removal of table entries is not reported: " + sets);
        h.assertQuiescent();
    }

    @Test
    void anEagerSplitReachesTheBackendAsASplit() {
        h.map(direct, 0x200, L2M, true);
        int before = sets.size();
        mmu.hugePages.split(0, 0x400);
        assertEquals(1, splits.size(), splits::toString);
        assertTrue(splits.get(0).isSplit());
        assertEquals(0x200, splits.get(0).gfn());
        assertEquals(L2M, splits.get(0).level());
        assertEquals(before, sets.size(), "a split is one split_external_spt, not leaf updates");
        assertEquals(L4K, h.last(direct, 0x3ff)[0]);
        h.assertQuiescent();
    }

    @Test
    void aZapTheBackendRefusesBugsTheVm() {
        h.map(direct, 0x10, L4K, true);
        answer = HookStatus.error(org.tdplab.mmu.api.Errno.EIO, "no");
        mmu.lock.writeLock();
        try {
            mmu.zap.zapLeafs(Roots.DIRECT_ROOTS, 0, 0x200);
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(1, h.bugs.size(), h.bugs::toString);
        assertTrue(h.bugs.get(0).contains("set_external_spte failed for the direct entry at gfn 0x10 level 1"),
                h.bugs.get(0));
        assertFalse(h.mapped(direct, 0x10), "the change was made before the backend was told");
    }

    @Test
    void anInstallTheBackendRefusesLeavesTheEntryAsItWasAndIsRetried() {
        h.map(direct, 0x10, L4K, true); // the tables exist now
        int before = sets.size();
        answer = HookStatus.busy("the backend's lock is contended");
        assertEquals(PageFault.RET_PF_RETRY, h.map(direct, 0x11, L4K, true));
        assertEquals(before + 1, sets.size(), "the backend was asked once");
        long[] last = h.last(direct, 0x11);
        assertEquals(L4K, last[0]);
        assertFalse(Spte.isShadowPresent(last[1]), "not installed");
        assertFalse(Spte.isFrozen(last[1]), "no longer frozen: the old value is back");
        answer = HookStatus.OK;
        assertEquals(PageFault.RET_PF_FIXED, h.map(direct, 0x11, L4K, true));
        assertTrue(h.mapped(direct, 0x11));
        h.assertQuiescent();
    }

    /** An unmap that fails inside {@code invalidateBegin} closes the window it opened: the caller ends only one it got. */
    @Test
    void anInvalidationWhoseUnmapFailsClosesItsWindow() {
        assertEquals(PageFault.RET_PF_FIXED, h.map(direct, 0x10, L4K, true));
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                throw new IllegalStateException("the backend failed in the unmap");
            }
        };
        long seq = mmu.invalidation.seq();
        assertThrows(IllegalStateException.class, () -> mmu.zap.invalidateBegin(0, 0x200, false, true));
        assertFalse(mmu.invalidation.inProgress(0x10), "the failed invalidation left its window open");
        assertEquals(seq + 1, mmu.invalidation.seq(), "the window was ended once");
        assertFalse(mmu.lock.isWriteLockedByMe());
    }
}
