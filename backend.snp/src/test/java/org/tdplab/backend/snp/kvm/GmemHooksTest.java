package org.tdplab.backend.snp.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_2M;
import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_4K;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * A launch's folio prepared late, when a fault first resolves one of its pages, against the punch that frees it: the
 * invalidation forgets the folio before its frames go back, so a late preparation that finds it forgotten prepares
 * nothing ({@code soak --type snp --threads 4}, seed 5124, found a 2M RMP page made private over freed frames).
 */
class GmemHooksTest {
    final CapturingSnpBackend backend = new CapturingSnpBackend();
    {
        Standalone.vmManager(backend).create("a", "snp", 1, 48, Map.of());
    }
    final VmContext ctx = backend.ctx;
    final Rmp rmp = ctx.hostState(SnpHost.class, () -> null).rmp();
    final Anomalies anomalies = new Anomalies();
    final GmemHooks hooks = new GmemHooks(new RmpCalls(ctx, rmp, 77, anomalies));
    /** A 2M region nothing else uses (the last of the host) and a GFN equally aligned. */
    final long head = rmp.frames() - 512, gfn = 0x40000;

    @Test
    void aLaunchFolioIsPreparedByItsFirstFaultAt2M() throws InterruptedException {
        launchFolio();
        assertEquals(LEVEL_2M, hooks.maxLevel(head + 4));
        assertTrue(rmp.isAssigned(head));
        Thread punch = new Thread(() -> hooks.invalidate(head, 9, anomalies)); // waits if the fault kept the lock
        punch.setDaemon(true);
        punch.start();
        punch.join(60_000);
        assertFalse(punch.isAlive(), "the late preparation did not let go of filemap_invalidate_lock");
        assertFalse(rmp.isAssigned(head));
        assertEquals(0, anomalies.lines().size(), anomalies.lines().toString());
        long seen = hooks.invalidations();
        assertTrue(hooks.lockUnlessInvalidatedSince(seen), "no invalidation began since " + seen);
        hooks.unlockInvalidations();
        assertFalse(hooks.lockUnlessInvalidatedSince(seen - 1), "one began since " + (seen - 1));
    }

    @Test
    void aLatePreparationOvertakenByThePunchPreparesNothing() throws InterruptedException {
        launchFolio();
        assertTrue(hooks.lockUnlessInvalidatedSince(hooks.invalidations())); // the punch's invalidation, about to run
        int[] level = { -1 };
        Thread fault = new Thread(() -> level[0] = hooks.maxLevel(head + 4));
        fault.setDaemon(true);
        fault.start();
        for (long deadline = System.nanoTime() + 60_000_000_000L; fault.getState() != Thread.State.WAITING;) {
            assertTrue(System.nanoTime() < deadline, "the fault never waited for the lock");
            Thread.onSpinWait();
        }
        hooks.invalidate(head, 9, anomalies); // forgets the folio; the frames would go back after it
        assertFalse(hooks.lockUnlessInvalidatedSince(hooks.invalidations() - 1), "an invalidation began since");
        hooks.unlockInvalidations();
        fault.join();
        assertEquals(LEVEL_4K, level[0]);
        for (long p = head; p < head + 512; p++)
            assertFalse(rmp.isAssigned(p), "pfn 0x" + Long.toHexString(p) + " made private after its folio's free");
    }

    /** A launch's 2M folio at {@link #head}, allocated and not prepared. */
    private void launchFolio() {
        hooks.populating(true);
        hooks.prepare(head, gfn, 9);
        hooks.populating(false);
        assertFalse(rmp.isAssigned(head));
    }
}
