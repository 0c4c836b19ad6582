package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** The CPU's S-EPT walk without the module's lock: mapped leaves for a vCPU inside the TD, the lock for the rest. */
class SeptCpuWalkTest {
    private static final long PAGE = 0x1000;

    private static Fixture running() {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, Contention.none());
        f.add(0, 0x11);
        f.finalizeTd();
        return f;
    }

    @Test
    void aVcpuInsideTheTdTranslatesAMappedPageWhileAnotherThreadHoldsTheModule() throws Exception {
        Fixture f = running();
        f.enter(0, 0);
        long locked = f.m.guestTranslate(0, 0, true, true);
        CountDownLatch held = new CountDownLatch(1), done = new CountDownLatch(1);
        CompletableFuture<Void> holder = CompletableFuture.runAsync(() -> {
            f.m.lock.lockExclusive(); // a SEAMCALL in progress on another CPU
            try {
                held.countDown();
                done.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                f.m.lock.unlockExclusive();
            }
        });
        held.await();
        try {
            assertEquals(locked, SeptCpuWalk.translateUnlocked(f.m, 0, 0, true), "the same translation, lock held");
        } finally {
            done.countDown();
            holder.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aVcpuOutsideTheTdTakesTheLockToEnter() {
        Fixture f = running();
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, 0, false));
        assertEquals(0, f.m.view().vpEnters(), "the unlocked walk enters no one");
    }

    @Test
    void everythingButAMappedLeafGoesToTheLock() {
        Fixture f = running();
        f.enter(0, 0);
        f.aug(PAGE);
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, PAGE >>> 12, false), "PENDING");
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, 2 * PAGE >>> 12, false), "FREE");
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, 1L << 30 >>> 12, false),
                "no table below");
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, 0, false), "BLOCKED");
        assertEquals(1, f.m.view().vpEnters(), "and nothing exited the TD");
        assertTrue(f.m.view().inGuest(0));
    }

    @Test
    void aWriteBlockedLeafServesReadsOnly() {
        Fixture f = running();
        f.enter(0, 0);
        long e = f.m.view().lookup(0, 0);
        f.m.sept.set(pageOf(f, 0), 0, SeptTree.withState(e, SeptState.BLOCKEDW));
        assertEquals(f.m.guestTranslate(0, 0, false, true), SeptCpuWalk.translateUnlocked(f.m, 0, 0, false));
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, 0, true));
    }

    @Test
    void aLinkWhoseChildItDoesNotSeeYetGoesToTheLock() {
        Fixture f = running();
        f.enter(0, 0);
        int root = f.m.rootPage, idx = SeptTree.index(0, f.m.eptLevels - 1);
        int child = f.m.sept.child(root, idx);
        f.m.sept.setChild(root, idx, 0); // the link's entry written, its child id not seen yet
        assertEquals(SeptCpuWalk.LOCKED, SeptCpuWalk.translateUnlocked(f.m, 0, 0, false));
        assertEquals(SeptState.FREE, SeptCpuWalk.stoppedAt(SeptCpuWalk.walk(f.m, 0, false)), "read as missing");
        f.m.sept.setChild(root, idx, child);
        assertTrue(SeptCpuWalk.translateUnlocked(f.m, 0, 0, false) >= 0);
    }

    /** The leaf page holding {@code gfn}'s 4K entry. */
    private static int pageOf(Fixture f, long gfn) {
        int page = f.m.rootPage;
        for (int l = f.m.eptLevels - 1; l > 0; l--)
            page = f.m.sept.child(page, SeptTree.index(gfn, l));
        return page;
    }

    @Test
    void aPageTheWalkDoesNotSeeYetReadsFree() {
        SeptTree t = new SeptTree();
        assertEquals(0, t.getUnlocked(0, 3), "id 0 is no page");
        assertEquals(0, t.getUnlocked(1 << 20, 3), "beyond the table");
        int p = t.alloc(1, 0, 77);
        t.set(p, 3, SeptTree.entry(SeptState.NL_MAPPED, 0x5000));
        t.setChild(p, 3, 9);
        assertEquals(SeptTree.entry(SeptState.NL_MAPPED, 0x5000), t.getUnlocked(p, 3));
        assertEquals(9, t.childUnlocked(p, 3));
        assertEquals(0, t.childUnlocked(p + 1, 3), "a page not allocated has no children");
    }
}
