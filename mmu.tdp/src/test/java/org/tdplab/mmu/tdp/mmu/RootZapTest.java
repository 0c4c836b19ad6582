package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The root zap as 6.18 does it: {@code tdp_mmu_zap_root} yields the MMU lock at each step
 * ({@code tdp_mmu_iter_cond_resched}, no flush), the fast zap leaves mirror roots alone, and the last reference of a
 * root frees it without a zap ({@code kvm_tdp_mmu_put_root}): the root was zapped before the MMU put its own.
 */
class RootZapTest {
    private static final int L4K = Spte.PG_LEVEL_4K;

    private final MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
    private final TdpMmu mmu = h.mmu;

    /**
     * A writer that queues behind the fast zap's read lock gets in at its next step, and may change a mirror root
     * then: no violation, the mirror leaves the zap found are still there, every direct leaf is gone.
     */
    @Test
    void aFastZapYieldsToAWaitingWriterAndLeavesMirrorRootsAlone() throws Exception {
        int direct = h.root(false), mirror = h.root(true);
        for (long gfn = 0x10; gfn < 0x14; gfn++)
            h.map(direct, gfn, L4K, true);
        h.map(mirror, 0x20, L4K, true);
        h.map(mirror, 0x21, L4K, true);
        AtomicBoolean writerRan = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            mmu.lock.writeLock();
            try {
                mmu.zap.zapLeafs(Roots.MIRROR_ROOTS, 0x21, 0x22); // a private zap, between two steps of the fast one
                writerRan.set(true);
            } finally {
                mmu.lock.writeUnlock();
            }
        });
        List<Boolean> ranBeforeZap = new ArrayList<>();
        h.onChange = () -> {
            MmuHarness.Change c = h.changes.get(h.changes.size() - 1);
            if (c.root() != RootKind.DIRECT || c.level() != L4K || !Spte.isShadowPresent(c.oldSpte()))
                return;
            ranBeforeZap.add(writerRan.get());
            if (ranBeforeZap.size() == 1) {
                writer.start();
                while (!mmu.lock.contended())
                    Thread.onSpinWait();
            }
        };
        mmu.zap.zapAllFast();
        writer.join();
        assertEquals(List.of(false, true, true, true), ranBeforeZap, "the writer got in at the next step");
        assertEquals(List.of(), mmu.opViolations(), "the writer's change to a mirror root is not the fast zap's");
        assertTrue(Spte.isShadowPresent(h.last(mirror, 0x20)[1]), "mirror roots are never fast-zapped");
        assertFalse(Spte.isShadowPresent(h.last(mirror, 0x21)[1]), "the writer's zap");
        assertEquals(0, mmu.zap.countPresent(direct), "the invalidated root is empty");
        h.assertQuiescent();
    }

    /** The vCPU's reference, put last after the fast zap, frees the root with no SPTE change: it is empty. */
    @Test
    void theLastReferenceFreesAZappedRootWithoutAChange() {
        int direct = h.root(false);
        h.map(direct, 0x10, L4K, true);
        mmu.zap.zapAllFast();
        assertTrue(h.pool.isLive(direct), "the vCPU still holds it");
        int changes = h.changes.size();
        mmu.lock.readLock();
        try {
            mmu.roots.put(direct); // kvm_mmu_free_obsolete_roots
        } finally {
            mmu.lock.readUnlock();
        }
        assertEquals(changes, h.changes.size());
        assertFalse(h.pool.isLive(direct));
        assertEquals(List.of(), mmu.opViolations());
    }

    /** A root whose last reference goes while it still maps memory is reported, and zapped so nothing leaks. */
    @Test
    void aRootFreedWhileStillMappingIsReportedAndZapped() {
        int direct = h.root(false);
        h.map(direct, 0x10, L4K, true);
        mmu.lock.writeLock();
        try {
            mmu.roots.invalidate(Roots.DIRECT_ROOTS);
            mmu.roots.put(direct); // the MMU's reference, without the zap that must come first
            mmu.roots.put(direct); // the vCPU's
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(List.of("inv 14: root " + direct + " lost its last reference while still mapping memory"),
                mmu.opViolations());
        assertFalse(h.pool.isLive(direct));
        MmuHarness.Change last = h.changes.get(h.changes.size() - 1);
        assertFalse(Spte.isShadowPresent(last.newSpte()), "its entries zapped");
        h.assertQuiescent();
    }
}
