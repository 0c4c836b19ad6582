package org.tdplab.backend.snp.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_2M;
import static org.tdplab.backend.snp.kvm.RmpCalls.LEVEL_4K;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.tdplab.backend.snp.rmp.GuestResult;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.backend.snp.rmp.RmpEntry;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * The RMP instructions as Linux wraps them ({@code rmp_make_private}, {@code rmp_make_shared},
 * {@code snp_rmptable_psmash}): retried while another CPU holds the 2M region, stopped (and reported) when the overlap
 * is real, and each execution counted and traced under its name with the GFN and level.
 */
class RmpCallsTest {
    static final int ASID = 77;

    final CapturingSnpBackend backend = new CapturingSnpBackend();
    final VmManager manager = Standalone.vmManager(backend);
    final List<String> traced = Collections.synchronizedList(new ArrayList<>());
    final Vm vm = manager.create("a", "snp", 1, 48, Map.of());
    /** The VM's counters before the test: its creation executed RMP instructions of its own. */
    final Map<String, Long> atStart = vm.stats();
    final VmContext ctx = backend.ctx;
    final Rmp rmp = ctx.hostState(SnpHost.class, () -> null).rmp();
    final Anomalies anomalies = new Anomalies();
    final RmpCalls calls = new RmpCalls(ctx, rmp, ASID, anomalies);
    /** A 2M region nothing else uses: the last of the host. */
    final long head = rmp.frames() - 512;
    final long gpa = 0x4000_0000L;

    {
        manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                traced.add(name + " " + gfn + " " + level + " " + status);
            }
        });
    }

    @AfterEach
    void nothingLeftBehind() {
        assertEquals(List.of(), rmp.check());
        vm.destroy();
        assertEquals(0, rmp.assignedPages());
    }

    /** How many times the VM's RMP instructions ran {@code name} since the test began: the core counts each call. */
    long count(String name) {
        return vm.stats().getOrDefault(name, 0L) - atStart.getOrDefault(name, 0L);
    }

    /** Runs {@code call} while another thread holds the 2M region's lock, until {@code tries} attempts failed. */
    long contended(long pfn, LongSupplier attempts, long tries, LongSupplier call) throws Exception {
        Method lockOf = Rmp.class.getDeclaredMethod("lockOf", long.class);
        lockOf.setAccessible(true);
        java.util.concurrent.locks.Lock lock = (java.util.concurrent.locks.Lock) lockOf.invoke(rmp, pfn);
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean returned = new java.util.concurrent.atomic.AtomicBoolean();
        Thread other = new Thread(() -> {
            lock.lock();
            try {
                held.countDown();
                while (attempts.getAsLong() < tries && !returned.get()) // a call that gave up lets it go too
                    Thread.onSpinWait();
            } finally {
                lock.unlock();
            }
        });
        other.start();
        held.await();
        long r;
        try {
            r = call.getAsLong();
        } finally {
            returned.set(true);
        }
        other.join();
        return r;
    }

    @Test
    void makePrivateAndSharedAreTracedWithTheirGfnAndLevel() {
        assertTrue(calls.makePrivate(head + 3, gpa + 0x3000, LEVEL_4K, false));
        assertTrue(calls.makeShared(head + 3, LEVEL_4K));
        assertTrue(calls.makePrivate(head, gpa, LEVEL_2M, false));
        assertEquals(512, rmp.assignedPages(ASID));
        assertTrue(calls.makeShared(head, LEVEL_2M));
        assertTrue(calls.makeShared(head + 9, LEVEL_4K), "an unassigned page: no GFN");
        long g = gpa >>> 12;
        assertEquals(List.of("RMPUPDATE " + (g + 3) + " 1 SUCCESS", "RMPUPDATE " + (g + 3) + " 1 SUCCESS",
                "RMPUPDATE " + g + " 2 SUCCESS", "RMPUPDATE " + g + " 2 SUCCESS", "RMPUPDATE -1 1 SUCCESS"), traced);
        assertEquals(5, count("RMPUPDATE"));
        assertTrue(calls.makeFirmware(head + 1));
        assertEquals(0, rmp.asidOf(head + 1));
        assertTrue(RmpEntry.immutable(rmp.lo(head + 1)));
        assertEquals("RMPUPDATE -1 1 SUCCESS", traced.get(5));
        assertTrue(rmp.firmwareReclaim(head + 1));
        assertTrue(calls.makeShared(head + 1, LEVEL_4K));
        assertFalse(calls.makeShared(rmp.frames(), LEVEL_4K), "FAIL_INPUT is not retried");
        assertEquals("RMPUPDATE -1 1 FAIL_INPUT", traced.get(traced.size() - 1));
        assertEquals(List.of(), anomalies.lines());
    }

    @Test
    void aRealOverlapIsReportedNotRetriedForever() {
        assertTrue(calls.makePrivate(head, gpa, LEVEL_2M, false));
        long before = count("RMPUPDATE");
        assertFalse(calls.makePrivate(head + 5, gpa + 0x5000, LEVEL_4K, false), "4K inside an assigned 2M page");
        assertEquals(before + 1, count("RMPUPDATE"), "one attempt");
        assertEquals(List.of(String.format("RMPUPDATE of pfn 0x%x (4K) overlaps assigned entries: Linux would retry "
                + "it forever", head + 5)), anomalies.lines());
        assertTrue(calls.makeShared(head, LEVEL_2M));
        assertEquals(0, rmp.psmash(head));

        assertTrue(calls.makePrivate(head + 7, gpa + 0x7000, LEVEL_4K, false));
        assertFalse(calls.makePrivate(head, gpa, LEVEL_2M, false), "2M over an assigned 4K page");
        assertEquals(String.format("RMPUPDATE of pfn 0x%x (2M) overlaps assigned entries: Linux would retry it "
                + "forever", head), anomalies.lines().get(1));
        assertTrue(calls.makeShared(head + 7, LEVEL_4K));
        assertTrue(calls.makePrivate(head, gpa, LEVEL_4K, false));
        assertFalse(calls.makePrivate(head, gpa, LEVEL_2M, false), "2M over the assigned 4K head itself");
        assertEquals(3, anomalies.lines().size());
        assertTrue(calls.makeShared(head, LEVEL_4K));
        assertTrue(traced.contains("RMPUPDATE " + (gpa >>> 12) + " 2 FAIL_OVERLAP"), traced.toString());
    }

    @Test
    void a2mPageMadeSharedWhileAnotherCpuHoldsTheRegionIsRetriedNotReported() throws Exception {
        assertTrue(calls.makePrivate(head, gpa, LEVEL_2M, false));
        long r = contended(head, () -> count("RMPUPDATE"), 4,
                () -> calls.makeShared(head, LEVEL_2M) ? 1 : 0);
        assertEquals(1, r, "made shared once the region was free");
        assertEquals(List.of(), anomalies.lines(), "a busy region is a transient overlap, not a real one");
        assertFalse(rmp.isAssigned(head));
        assertFalse(rmp.isAssigned(head + 511));
    }

    @Test
    void rmpupdateIsRetriedWhileAnotherCpuUpdatesTheRegion() throws Exception {
        long r = contended(head, () -> count("RMPUPDATE"), 3,
                () -> calls.makePrivate(head + 2, gpa + 0x2000, LEVEL_4K, false) ? 1 : 0);
        assertEquals(1, r);
        long n = count("RMPUPDATE");
        assertTrue(n >= 4, "three failed attempts and the one that worked: " + n);
        assertEquals("RMPUPDATE " + ((gpa >>> 12) + 2) + " 1 FAIL_OVERLAP", traced.get(0));
        assertEquals("RMPUPDATE " + ((gpa >>> 12) + 2) + " 1 SUCCESS", traced.get(traced.size() - 1));
        assertEquals(n, traced.size());
        assertEquals(List.of(), anomalies.lines(), "a transient overlap is no anomaly");
        assertTrue(rmp.isAssigned(head + 2));
        assertTrue(calls.makeShared(head + 2, LEVEL_4K));
    }

    @Test
    void psmashIsRetriedWhileAnotherCpuUsesTheEntry() throws Exception {
        assertTrue(calls.makePrivate(head, gpa, LEVEL_2M, false));
        traced.clear();
        long rc = contended(head, () -> count("PSMASH"), 2, () -> calls.psmash(head + 17));
        assertEquals(0, rc);
        assertTrue(count("PSMASH") >= 3);
        assertEquals("PSMASH " + (gpa >>> 12) + " 2 FAIL_INUSE", traced.get(0));
        assertEquals("PSMASH " + (gpa >>> 12) + " 2 SUCCESS", traced.get(traced.size() - 1));
        assertEquals(1, rmp.privateLevel(head + 17));
        assertEquals(rmp.codes().failInput(), calls.psmash(head), "a 4K entry");
        assertEquals("PSMASH " + (gpa >>> 12) + " 2 FAIL_INPUT", traced.get(traced.size() - 1));
        for (int i = 0; i < 512; i++)
            assertTrue(calls.makeShared(head + i, LEVEL_4K));
        assertEquals(rmp.codes().failInput(), calls.psmash(head));
        assertEquals("PSMASH -1 2 FAIL_INPUT", traced.get(traced.size() - 1), "no GFN for an unassigned page");
    }

    @Test
    void guestInstructionsAreCountedAndTracedWithTheirOutcome() {
        assertTrue(calls.makePrivate(head, gpa, LEVEL_2M, false));
        long g = gpa >>> 12;
        assertTrue(GuestResult.updated(calls.pvalidate(head, g, SIZE_2M, true)));
        assertTrue(GuestResult.cf(calls.pvalidate(head, g, SIZE_2M, true)));
        assertTrue(GuestResult.isNpf(calls.pvalidate(head + 1, g + 1, SIZE_4K, true)));
        assertEquals(1, GuestResult.eax(calls.pvalidate(head + 1, g + 2, SIZE_2M, true)), "a 2M GPA off 2M");
        assertEquals(0, GuestResult.eax(calls.rmpadjust(head, g, SIZE_2M, 0, 1 | 1 << 8)));
        assertEquals(1, GuestResult.eax(calls.rmpadjust(head, g, SIZE_2M, 0, 9)));
        assertEquals(List.of("PVALIDATE " + g + " 2 SUCCESS", "PVALIDATE " + g + " 2 NOUPDATE",
                "PVALIDATE " + (g + 1) + " 1 NPF_RMP_SIZEM", "PVALIDATE " + (g + 2) + " 2 FAIL_INPUT",
                "RMPADJUST " + g + " 2 SUCCESS", "RMPADJUST " + g + " 2 FAIL_INPUT"), traced.subList(1, 7));
        assertEquals(4, count("PVALIDATE"));
        assertEquals(2, count("RMPADJUST"));
        assertEquals(0, calls.psmash(head));
        assertTrue(GuestResult.isNpf(calls.pvalidate(head + 3, g + 4, SIZE_4K, false)));
        assertEquals("PVALIDATE " + (g + 4) + " 1 NPF_RMP", traced.get(traced.size() - 1));
        assertEquals(0, GuestResult.eax(calls.rmpadjust(head + 3, g + 3, SIZE_4K, 0, 2 | 1 << 8)));
        assertEquals("RMPADJUST " + (g + 3) + " 1 SUCCESS", traced.get(traced.size() - 1));
        for (int i = 0; i < 512; i++)
            assertTrue(calls.makeShared(head + i, LEVEL_4K));
    }
}
