package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/**
 * AUG and ACCEPT hold the module's lock shared, so they meet on an S-EPT entry's own lock: the loser backs off with
 * {@code TDX_OPERAND_BUSY}, a host that lost sets the host-priority bit, and a guest then backs off for the host.
 */
class EntryLockTest {
    private static final long PAGE = 0x1000;

    private static Fixture running() {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, Contention.none());
        f.add(0, 0x11);
        f.finalizeTd();
        f.enter(0, 0);
        f.enter(1, 0);
        return f;
    }

    /** The entry of the 4K page at {@code gpa}, as {@code page << 32 | index}. */
    private static long entryOf(Fixture f, long gpa) {
        long pos = new SeptWalk(f.m, new TdChecks(f.m)).walk(gpa >>> 12, 0);
        return (long) SeptWalk.posPage(pos) << 32 | SeptWalk.posIndex(pos);
    }

    private static boolean hold(Fixture f, long entry, boolean host) {
        return f.m.sept.tryLock((int) (entry >>> 32), (int) entry, host) >= 0;
    }

    private static void release(Fixture f, long entry) {
        f.m.sept.unlock((int) (entry >>> 32), (int) entry);
    }

    @Test
    void anAcceptOfAnEntryAHostLeafHoldsIsBusyAndChangesNothing() {
        Fixture f = running();
        f.aug(PAGE);
        long entry = entryOf(f, PAGE);
        assertTrue(hold(f, entry, true));
        assertStatus(withOperand(TDX_OPERAND_BUSY, OPERAND_RCX), f.m.tdgMemPageAccept(1, rcx(PAGE, 0), true));
        assertEquals(SeptState.PENDING, f.state(PAGE, 0));
        release(f, entry);
        ok(f.m.tdgMemPageAccept(1, rcx(PAGE, 0), true));
        assertEquals(SeptState.MAPPED, f.state(PAGE, 0));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void anAugThatLosesTheEntryToTheGuestMakesTheGuestBackOffNextTime() {
        Fixture f = running();
        f.link(2 * PAGE, 0);
        long entry = entryOf(f, 2 * PAGE), hpa = f.page();
        assertTrue(hold(f, entry, false)); // the guest's ACCEPT holds it
        assertStatus(withOperand(TDX_OPERAND_BUSY, OPERAND_RCX), f.m.tdhMemPageAug(rcx(2 * PAGE, 0), f.tdr, hpa, null));
        release(f, entry);
        assertStatus(withOperand(TDX_OPERAND_BUSY_HOST_PRIORITY, OPERAND_RCX),
                f.m.tdgMemPageAccept(0, rcx(2 * PAGE, 0), true));
        ok(f.m.tdhMemPageAug(rcx(2 * PAGE, 0), f.tdr, hpa, null)); // the host gets it and clears the bit
        ok(f.m.tdgMemPageAccept(0, rcx(2 * PAGE, 0), true));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /**
     * An AUG that the entry's lock would have let in clears the host-priority bit even when it then fails (the bit is
     * cleared when the host gets the lock, before the checks), though it reads the entry without taking the lock.
     */
    @Test
    void anAugRefusedAfterTheEntryLockClearsTheHostPriorityBit() {
        Fixture f = running();
        f.link(2 * PAGE, 0);
        long entry = entryOf(f, 2 * PAGE), hpa = f.page();
        assertTrue(hold(f, entry, false));
        assertStatus(withOperand(TDX_OPERAND_BUSY, OPERAND_RCX), f.m.tdhMemPageAug(rcx(2 * PAGE, 0), f.tdr, hpa, null));
        release(f, entry);
        // the TDR as the page: PAGE_METADATA_INCORRECT on R8, after the entry's lock
        assertEquals(TdxStatus.TDX_PAGE_METADATA_INCORRECT,
                TdxStatus.classOf(f.m.tdhMemPageAug(rcx(2 * PAGE, 0), f.tdr, f.tdr, null)));
        assertEquals(TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(2 * PAGE, 0), true),
                "the guest no longer backs off: the entry is FREE, the TD exits");
        ok(f.m.tdhMemPageAug(rcx(2 * PAGE, 0), f.tdr, hpa, null));
        ok(f.m.tdgMemPageAccept(0, rcx(2 * PAGE, 0), true));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /**
     * vCPU 1's ACCEPT is zeroing the page (its entry held) when vCPU 0 accepts the same page: vCPU 0 must back off,
     * or it would accept the page, write it, and lose the write to vCPU 1's zeroing.
     */
    @Test
    void anAcceptInProgressHoldsItsEntryAgainstAnotherVcpusAccept() throws Exception {
        Fixture f = running();
        long pfn = f.aug(PAGE) >>> 12;
        f.memory.put(pfn, 7L); // what the frame held before: the ACCEPT zeroes it
        CountDownLatch zeroing = new CountDownLatch(1), resume = new CountDownLatch(1);
        Thread[] vcpu1 = new Thread[1];
        f.onRead = p -> {
            if (p == pfn && Thread.currentThread() == vcpu1[0]) {
                zeroing.countDown();
                try {
                    resume.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        long[] st1 = new long[1];
        vcpu1[0] = new Thread(() -> st1[0] = f.m.tdgMemPageAccept(1, rcx(PAGE, 0), true));
        vcpu1[0].start();
        zeroing.await();
        long st0 = f.m.tdgMemPageAccept(0, rcx(PAGE, 0), true);
        resume.countDown();
        vcpu1[0].join();
        assertStatus(withOperand(TDX_OPERAND_BUSY, OPERAND_RCX), st0);
        ok(st1[0]);
        assertEquals(0L, f.memory.get(pfn));
        assertEquals(TdxStatus.TDX_PAGE_ALREADY_ACCEPTED, TdxStatus.classOf(f.m.tdgMemPageAccept(0, rcx(PAGE, 0), true)));
    }

    /**
     * Two vCPUs map and accept pages at once, each its own and then each the other's: every page ends MAPPED once,
     * and the TD-wide counts their leaves change at once — {@code chldcnt}, the epoch refcounts their entries and
     * exits change — stay exact (the module's own invariants check both).
     */
    @Test
    void twoVcpusAugAndAcceptAtOnceKeepTheModulesCounts() throws Exception {
        Fixture f = running();
        int pages = 4000;
        long base = 1L << 30;
        long[] hpa = new long[pages];
        for (int i = 0; i < pages; i++) {
            f.link(base + i * PAGE, 0);
            hpa[i] = f.page();
        }
        long before = f.m.view().chldcnt();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        atOnce(failure, vcpu -> {
            for (int i = vcpu; i < pages; i += 2)
                mapAndAccept(f, vcpu, base + i * PAGE, hpa[i], failure);
            for (int i = 1 - vcpu; i < pages; i += 2) // the other's pages: already accepted, or busy
                acceptUntilDone(f, vcpu, base + i * PAGE, failure);
        });
        assertEquals(before + pages, f.m.view().chldcnt());
        for (int i = 0; i < pages; i += 397)
            assertEquals(SeptState.MAPPED, f.state(base + i * PAGE, 0));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /**
     * SEPT.ADD holds the lock shared too: two vCPUs link new S-EPT pages at once, each its own 2M regions (then AUG
     * and accept a page in each), and then, with allow_existing, each the other's: the entry's lock makes one of two
     * SEPT.ADDs of an entry wait, and the second finds the link there (allow_existing: success, its page unused) or,
     * its owner's, the entry in use. Every region is linked once, by one of the two pages offered, and the tree's
     * shape, the PAMT and {@code chldcnt} stay exact (the module's own invariants check them).
     */
    @Test
    void twoVcpusLinkNewSeptPagesAtOnce() throws Exception {
        Fixture f = running();
        int regions = 4096;
        long base = 2L << 30, m2 = 2L << 20;
        for (long g = base; g < base + regions * m2; g += 1L << 30)
            f.link(g, 1); // the tables of the 1G entries: every region's 2M entry is in one

        long[] table = new long[regions], spare = new long[regions], hpa = new long[regions];
        for (int i = 0; i < regions; i++) {
            table[i] = f.page();
            spare[i] = f.page();
            hpa[i] = f.page();
        }
        long before = f.m.view().chldcnt();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        atOnce(failure, vcpu -> {
            for (int i = vcpu; i < regions; i += 2) {
                long gpa = base + i * m2;
                long st;
                while (TdxStatus.classOf(st = f.m.tdhMemSeptAdd(rcx(gpa, 1), f.tdr, table[i],
                        new TdxModule.Regs())) == TDX_OPERAND_BUSY)
                    Thread.onSpinWait(); // the other vCPU's allow_existing SEPT.ADD holds the entry
                if (st != TdxStatus.TDX_SUCCESS) // the other vCPU's allow_existing SEPT.ADD linked it first
                    assertStatus(withOperand(TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), st);
            }
            for (int i = vcpu; i < regions; i += 2)
                mapAndAccept(f, vcpu, base + i * m2, hpa[i], failure);
            for (int i = 1 - vcpu; i < regions; i += 2) { // the other's: linked by now or in a moment
                long st;
                while (TdxStatus.classOf(st = f.m.tdhMemSeptAdd(rcx(base + i * m2, 1), f.tdr | 1, spare[i],
                        new TdxModule.Regs())) == TDX_OPERAND_BUSY)
                    Thread.onSpinWait();
                ok(st); // linked by its owner, or now by the spare
            }
        });
        for (int i = 0; i < regions; i++) {
            assertEquals(SeptState.NL_MAPPED, f.state(base + i * m2, 1));
            assertEquals(SeptState.MAPPED, f.state(base + i * m2, 0));
            boolean owners = f.m.sept.pageAt(table[i] >>> 12) != 0, spares = f.m.sept.pageAt(spare[i] >>> 12) != 0;
            assertTrue(owners != spares, "region " + i + " linked by one page: owner's " + owners + ", spare " + spares);
        }
        assertEquals(before + 2L * regions, f.m.view().chldcnt(), "a table and a page per region");
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /** Runs {@code body} on vCPU 0 and vCPU 1, two threads started at once; a failure in either fails the test. */
    private static void atOnce(AtomicReference<Throwable> failure, java.util.function.IntConsumer body)
            throws InterruptedException {
        CountDownLatch go = new CountDownLatch(1);
        Thread[] vcpus = new Thread[2];
        for (int v = 0; v < 2; v++) {
            int vcpu = v;
            vcpus[v] = new Thread(() -> {
                try {
                    go.await();
                    body.accept(vcpu);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            vcpus[v].start();
        }
        go.countDown();
        for (Thread t : vcpus)
            t.join();
        if (failure.get() != null)
            throw new AssertionError(failure.get());
    }

    /** What KVM and the guest do for a page: the ACCEPT exits, KVM AUGs the page, the guest accepts it again. */
    private static void mapAndAccept(Fixture f, int v, long gpa, long hpa, AtomicReference<Throwable> failure) {
        long st;
        while (TdxStatus.classOf(st = f.m.tdgMemPageAccept(v, rcx(gpa, 0), true)) == TDX_OPERAND_BUSY)
            Thread.onSpinWait(); // the other vCPU's ACCEPT of this page holds its entry
        if (st != TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION)
            throw new AssertionError("first ACCEPT: " + TdxStatus.name(st));
        long st2;
        while (TdxStatus.classOf(st2 = f.m.tdhMemPageAug(rcx(gpa, 0), f.tdr, hpa, new TdxModule.Regs())) == TDX_OPERAND_BUSY)
            Thread.onSpinWait(); // the other vCPU's ACCEPT holds the entry: KVM retries the fault
        ok(st2);
        acceptUntilDone(f, v, gpa, failure);
    }

    /** Retries the ACCEPT the way the guest does, until it is done or the other vCPU failed. */
    private static void acceptUntilDone(Fixture f, int v, long gpa, AtomicReference<Throwable> failure) {
        while (failure.get() == null) {
            long st = f.m.tdgMemPageAccept(v, rcx(gpa, 0), true);
            long cls = TdxStatus.classOf(st);
            if (st == TdxStatus.TDX_SUCCESS || cls == TdxStatus.TDX_PAGE_ALREADY_ACCEPTED)
                return;
            if (cls != TDX_OPERAND_BUSY && cls != TDX_OPERAND_BUSY_HOST_PRIORITY
                    && st != TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION)
                throw new AssertionError("ACCEPT of 0x" + Long.toHexString(gpa) + ": " + TdxStatus.name(st));
            Thread.onSpinWait(); // busy: the entry is held, or a host waits for it; an exit: its AUG is not done yet
        }
    }
}
