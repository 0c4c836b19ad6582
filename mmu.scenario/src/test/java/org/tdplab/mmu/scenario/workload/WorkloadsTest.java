package org.tdplab.mmu.scenario.workload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

class WorkloadsTest {
    private final VmManager manager = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend());

    private Vm vm(String name, String type, int vcpus, long slotSize, Set<SlotFlag> flags) {
        Vm vm = manager.create(name, type, vcpus, 48, Map.of());
        vm.addMemslot(0, 0, slotSize, flags, PageSize.SIZE_4K);
        return vm;
    }

    private static Workloads.Slot slot0(int id) {
        if (id != 0)
            throw new MmuException(Errno.ENOENT, "no slot %d", id);
        return new Workloads.Slot(0, 4L << 20, false);
    }

    /** Wraps {@code real}, letting {@code after} see or change each call's result. */
    private static Vm wrap(Vm real, java.util.function.BiFunction<String, Object, Object> after) {
        return (Vm) java.lang.reflect.Proxy.newProxyInstance(Vm.class.getClassLoader(), new Class<?>[] { Vm.class },
                (proxy, m, args) -> {
                    try {
                        return after.apply(m.getName(), m.invoke(real, args));
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    private static boolean has(Report r, String prefix) {
        return r.lines().stream().anyMatch(l -> l.startsWith(prefix));
    }

    @Test
    void randomOrderVisitsEveryPageOnce() {
        for (long n : new long[] { 1, 2, 3, 64, 97, 256, 1000 }) {
            for (long seed = 0; seed < 5; seed++) {
                Order o = Order.random(n, seed);
                BitSet seen = new BitSet();
                for (long i = 0; i < n; i++)
                    seen.set((int) o.page(i));
                assertEquals(n, seen.cardinality(), "n=" + n + " seed=" + seed);
            }
        }
    }

    @Test
    void demandPagingFaultsEveryPageOnceAndReportsRates() {
        Vm vm = vm("dp", "default", 4, 4L << 20, Set.of());
        Report r = Workloads.run(vm, "demand_paging", 0, 1L << 20, 4, Map.of("order", "random"), WorkloadsTest::slot0);
        assertEquals(256L, vm.stats().get("pf_fixed"));
        assertTrue(has(r, "vCPU 3: 64 pages, execution time "), r.lines().toString());
        assertTrue(has(r, "Overall demand paging rate: "), r.lines().toString());
        assertTrue(has(r, "Projected hardware time: 0.000192000s per vCPU (256 faults x 3 us + firmware 0.000000000s "),
                r.lines().toString());
        // concurrent faults on one table may retry: the fixed count is exact, the taken count is not
        assertTrue(r.lines().stream().anyMatch(l -> l.matches("faults \\d+ \\(fixed 256\\), retries \\d+, remote TLB "
                + "flushes \\d+, firmware calls 0")), r.lines().toString());
    }

    @Test
    void aRangeTheVcpusDoNotDivideSaysWhatItLeavesOut() {
        Vm vm = vm("rest", "default", 2, 4L << 20, Set.of());
        Report r = Workloads.run(vm, "demand_paging", 0, 12L << 10, 2, Map.of(), WorkloadsTest::slot0);
        assertEquals(2L, vm.stats().get("pf_fixed"), "a page per vCPU, as memstress partitions");
        assertTrue(has(r, "demand_paging: 2 vCPUs, 4096 bytes per vCPU (1 page), sequential order"),
                r.lines().toString());
        assertTrue(has(r, "demand_paging: the last 1 page of the range is in no vCPU's partition (size is not a "
                + "multiple of 2 pages)"), r.lines().toString());
        Report even = Workloads.run(vm, "demand_paging", 1L << 20, 16L << 10, 2, Map.of(), WorkloadsTest::slot0);
        assertTrue(even.lines().stream().noneMatch(l -> l.contains("no vCPU's partition")), even.lines().toString());
    }

    @Test
    void dirtyLogReportsEveryPhase() {
        Vm vm = vm("dl", "default", 2, 4L << 20, Set.of());
        Report r = Workloads.run(vm, "dirty_log", 0, 512L << 10, 2, Map.of("iterations", "2"), WorkloadsTest::slot0);
        for (String p : List.of("Populate memory time", "Enabling dirty logging time", "Iteration 2 dirty memory time",
                "Iteration 2 get dirty log time", "Iteration 2 clear dirty log time", "Disabling dirty logging time",
                "Get dirty log over 2 iterations", "Clear dirty log over 2 iterations"))
            assertTrue(has(r, p), p + " in " + r.lines());
    }

    @Test
    void dirtyLogFailsOnAPageLoggedThoughNothingWroteIt() {
        // a log whose collections never clear: every GET reports the whole slot
        Vm real = vm("stale", "default", 2, 4L << 20, Set.of());
        Vm stale = wrap(real, (name, r) -> {
            if (name.equals("getDirtyLog"))
                java.util.Arrays.fill((long[]) r, -1L);
            return r;
        });
        MmuException e = assertThrows(MmuException.class,
                () -> Workloads.run(stale, "dirty_log", 0, 512L << 10, 2, Map.of(), WorkloadsTest::slot0));
        assertEquals(Errno.EIO, e.errno());
        assertTrue(e.getMessage().contains("a stale bit"), e.getMessage());
        assertEquals(Errno.ENOENT, assertThrows(MmuException.class, () -> real.getDirtyLog(0)).errno(),
                "the run turned logging on, failed, and turned it off again");
    }

    @Test
    void dirtyLogLeavesASlotThatLogsAlreadyAsFound() {
        Vm vm = vm("on", "default", 2, 4L << 20, Set.of(SlotFlag.DIRTY_LOG));
        IntFunction<Workloads.Slot> logging = id -> new Workloads.Slot(0, 4L << 20, true);
        Report r = Workloads.run(vm, "dirty_log", 0, 512L << 10, 2, Map.of(), logging);
        assertTrue(has(r, "Dirty logging: memslot 0 logs already; left as found"), r.lines().toString());
        assertTrue(r.lines().stream().noneMatch(l -> l.contains("abling dirty logging")), r.lines().toString());
        vm.getDirtyLog(0); // still logging: no ENOENT
        MmuException e = assertThrows(MmuException.class,
                () -> Workloads.run(vm, "dirty_log", 0, 512L << 10, 2, Map.of("initially_set", "on"), logging));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("initially_set=: memslot 0 logs dirty pages already"), e.getMessage());
        Vm off = vm("off", "default", 2, 4L << 20, Set.of());
        Workloads.run(off, "dirty_log", 0, 512L << 10, 2, Map.of(), WorkloadsTest::slot0);
        assertEquals(Errno.ENOENT, assertThrows(MmuException.class, () -> off.getDirtyLog(0)).errno(),
                "a slot the workload enabled logging on is left without it");
        // a range the rounds' 64-page clears cannot cover is refused before anything runs, naming it
        MmuException bad = assertThrows(MmuException.class,
                () -> Workloads.run(off, "dirty_log", 4096, 512L << 10, 2, Map.of(), WorkloadsTest::slot0));
        assertEquals(Errno.EINVAL, bad.errno());
        assertTrue(bad.getMessage().contains("gpa=0x1000 size=0x80000"), bad.getMessage());
        assertEquals(Errno.ENOENT, assertThrows(MmuException.class, () -> off.getDirtyLog(0)).errno());
        // backing= adds the slot the run then logs (the VMM's slots do not have it yet)
        Vm added = manager.create("added", "default", 2, 48, Map.of());
        Report withSlot = Workloads.run(added, "dirty_log", 0, 512L << 10, 2, Map.of("backing", "4K", "slot", "3"),
                id -> {
                    throw new MmuException(Errno.ENOENT, "no slot %d", id);
                });
        assertTrue(has(withSlot, "Disabling dirty logging time"), withSlot.lines().toString());
    }

    @Test
    void accessTrackingFailsWhenTooManyPagesStayIdle() {
        Vm vm = vm("small", "default", 2, 4L << 20, Set.of());
        // 32 pages a vCPU: its TLB keeps every translation, so the idle-memory passes set no accessed bit
        MmuException e = assertThrows(MmuException.class, () -> Workloads.run(vm, "access_tracking", 0, 256L << 10,
                2, Map.of("warn_only", "off"), WorkloadsTest::slot0));
        assertEquals(Errno.EIO, e.errno());
        assertTrue(e.getMessage().contains("vCPU0: too many pages still idle (32 out of 32)"), e.getMessage());
        // by default a partition the TLB can hold a tenth of only warns
        Report warned = Workloads.run(vm, "access_tracking", 0, 256L << 10, 2, Map.of(), WorkloadsTest::slot0);
        assertTrue(has(warned, "WARNING: vCPU1: Too many pages still idle (32 out of 32), this will affect "
                + "performance results."), warned.lines().toString());
    }

    @Test
    void accessTrackingPassesWhereTheTlbHoldsLittleAndCatchesLostAccessedBits() {
        long size = 128L << 20; // 16384 pages a vCPU: ten times more than its TLB holds
        Vm big = vm("big", "default", 2, size, Set.of());
        IntFunction<Workloads.Slot> slot = id -> new Workloads.Slot(0, size, false);
        Report r = Workloads.run(big, "access_tracking", 0, size, 2, Map.of(), slot);
        assertTrue(has(r, "Iteration 2 reading from idle memory time"), r.lines().toString());
        assertTrue(r.lines().stream().noneMatch(l -> l.startsWith("WARNING")), r.lines().toString());
        // an aging that finds nothing young after the first marking: the accesses set no accessed bit
        int[] ages = new int[1];
        Vm lost = wrap(vm("lost", "default", 2, size, Set.of()),
                (name, x) -> name.equals("age") && ++ages[0] > 2 ? (Object) 0L : x);
        MmuException e = assertThrows(MmuException.class,
                () -> Workloads.run(lost, "access_tracking", 0, size, 2, Map.of(), slot));
        assertEquals(Errno.EIO, e.errno());
        assertTrue(e.getMessage().contains("vCPU0: too many pages still idle (16384 out of 16384)"), e.getMessage());
        // a range aged before the run: its first marking finds pages idle, which the selftest's never can
        int[] marks = new int[1];
        Vm agedBefore = wrap(vm("aged", "default", 2, size, Set.of()),
                (name, x) -> name.equals("age") && ++marks[0] <= 2 ? (Object) 0L : x);
        Workloads.run(agedBefore, "access_tracking", 0, size, 2, Map.of(), slot);
        // below ten pages a vCPU the selftest's bound is 0: no page idle must still pass
        Vm allYoung = wrap(vm("tiny", "default", 2, 4L << 20, Set.of()),
                (name, x) -> name.equals("age") ? (Object) 4L : x);
        Report tiny = Workloads.run(allYoung, "access_tracking", 0, 32L << 10, 2, Map.of("warn_only", "off"),
                WorkloadsTest::slot0);
        assertTrue(tiny.lines().stream().noneMatch(l -> l.startsWith("WARNING")), tiny.lines().toString());
    }

    @Test
    void memslotStressVcpusRunUntilTheHostIsDone() throws Exception {
        java.util.concurrent.atomic.AtomicLong accesses = new java.util.concurrent.atomic.AtomicLong();
        long pages = 64, passes = 5;
        boolean[] waited = new boolean[1];
        // the host's first delete waits until the vCPUs made five passes between them: a workload whose vCPUs stop
        // after a fixed number of passes (two) never lets it go on
        Vm slowHost = wrap(vm("ms", "default", 2, 4L << 20, Set.of()), (name, r) -> {
            if (name.equals("access"))
                accesses.incrementAndGet();
            if (name.equals("deleteMemslot") && !waited[0]) {
                waited[0] = true;
                long until = System.nanoTime() + 30_000_000_000L;
                while (accesses.get() < passes * pages && System.nanoTime() < until)
                    Thread.onSpinWait();
            }
            return r;
        });
        Report r = Workloads.run(slowHost, "memslot_stress", 1L << 20, pages * 4096, 2,
                Map.of("slot_ops", "2", "dummy_gpa", "0x2000000"), WorkloadsTest::slot0);
        assertTrue(accesses.get() >= passes * pages, accesses + " accesses: " + r.lines());
        assertTrue(has(r, "Memslot add+delete: 2 times"), r.lines().toString());
    }

    @Test
    void conversionsRunTheSelftestsRangesAndCatchAPunchThatKeepsData() {
        long size = 6L << 20; // 3 MiB a vCPU: every test range fits
        IntFunction<Workloads.Slot> slot = id -> new Workloads.Slot(0, size, false);
        Vm sw = vm("ranges", "sw_protected", 2, size, Set.of(SlotFlag.GMEM));
        Report r = Workloads.run(sw, "conversions", 0, size, 2, Map.of(), slot);
        assertTrue(has(r, "Test ranges: 5 of the selftest's 5 fit a partition of 3145728 bytes"), r.lines().toString());
        assertTrue(sw.check().violations().isEmpty(), sw.check().violations().toString());
        // a hole punch that frees nothing: the punched range still reads what was written
        Vm keeps = vm("keeps", "sw_protected", 2, size, Set.of(SlotFlag.GMEM));
        Vm noPunch = (Vm) java.lang.reflect.Proxy.newProxyInstance(Vm.class.getClassLoader(),
                new Class<?>[] { Vm.class }, (proxy, m, args) -> {
                    if (m.getName().equals("punchHole"))
                        return null;
                    try {
                        return m.invoke(keeps, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        MmuException e = assertThrows(MmuException.class,
                () -> Workloads.run(noPunch, "conversions", 0, size, 2, Map.of(), slot));
        assertEquals(Errno.EIO, e.errno());
        assertTrue(e.getMessage().contains("private punched read"), e.getMessage());
    }

    @Test
    void memslotStressHostStopsWhenAVcpuFails() {
        java.util.concurrent.atomic.AtomicLong accesses = new java.util.concurrent.atomic.AtomicLong(),
                adds = new java.util.concurrent.atomic.AtomicLong();
        Vm failing = wrap(vm("fail", "default", 2, 4L << 20, Set.of()), (name, r) -> {
            if (name.equals("addMemslot"))
                adds.incrementAndGet();
            if (name.equals("access") && accesses.incrementAndGet() == 10)
                throw new MmuException(Errno.EFAULT, "the tenth access fails");
            return r;
        });
        MmuException e = assertThrows(MmuException.class, () -> Workloads.run(failing, "memslot_stress", 1L << 20,
                256L << 10, 2, Map.of("slot_ops", "100000", "dummy_gpa", "0x2000000"), WorkloadsTest::slot0));
        assertTrue(e.getMessage().contains("the tenth access fails"), e.getMessage());
        assertTrue(adds.get() < 100_000, adds + " slot adds: the host's loop went on after the vCPU failed");
    }

    @Test
    void accessTrackingMemslotStressAndConversionsComplete() {
        Vm vm = vm("at", "default", 2, 4L << 20, Set.of());
        assertTrue(has(Workloads.run(vm, "access_tracking", 0, 256L << 10, 2, Map.of("warn_only", "on"),
                WorkloadsTest::slot0), "Iteration 1 mark memory idle time"));
        assertTrue(has(Workloads.run(vm, "memslot_stress", 1L << 20, 256L << 10, 2,
                Map.of("slot_ops", "4", "dummy_gpa", "0x2000000"), WorkloadsTest::slot0), "Memslot add+delete: 4 times"));
        Vm sw = vm("cv", "sw_protected", 2, 4L << 20, Set.of(SlotFlag.GMEM));
        assertTrue(has(Workloads.run(sw, "conversions", 0, 256L << 10, 2, Map.of(), WorkloadsTest::slot0),
                "Overall conversion rate: "));
    }

    @Test
    void badParametersAreRefusedWithEinval() {
        Vm vm = vm("bad", "default", 2, 4L << 20, Set.of());
        for (Runnable r : List.<Runnable>of(
                () -> Workloads.run(vm, "demand_paging", 0, 1L << 20, 3, Map.of(), WorkloadsTest::slot0),
                () -> Workloads.run(vm, "demand_paging", 0, 4096, 2, Map.of(), WorkloadsTest::slot0),
                () -> Workloads.run(vm, "demand_paging", 0, 1L << 20, 1, Map.of("order", "backwards"),
                        WorkloadsTest::slot0),
                () -> Workloads.run(vm, "demand_paging", 0, 1L << 20, 1, Map.of("iterations", "2"),
                        WorkloadsTest::slot0),
                () -> Workloads.run(vm, "conversions", 0, 1L << 20, 1, Map.of(), WorkloadsTest::slot0),
                () -> Workloads.run(vm, "stream", 0, 1L << 20, 1, Map.of(), WorkloadsTest::slot0)))
            assertEquals(Errno.EINVAL, assertThrows(MmuException.class, r::run).errno());
    }

    @Test
    void projectionPricesFaultsAndFirmwareTime() {
        Projection p = Projection.of(Map.of("pf_fixed", 10L, "projected_firmware_ns", 1_000L),
                Map.of("pf_fixed", 110L, "TDH.MEM.PAGE.AUG", 40L, "projected_firmware_ns", 201_000L), 4);
        assertEquals(new Projection(100, 200_000, 4), p);
        assertEquals((100 * 3_000L + 200_000L) / 4, p.nanosPerVcpu());
        assertTrue(p.line().startsWith("Projected hardware time: 0.000125000s per vCPU (100 faults x 3 us + firmware "
                + "0.000200000s from the backend's latency table, over 4 vCPUs"), p.line());
    }

    @Test
    void countersAreDeltasWithFirmwareCallsByKind() {
        Counters c = Counters.delta(Map.of("pf_taken", 3L, "RMPUPDATE", 1L),
                Map.of("pf_taken", 5L, "pf_fixed", 2L, "pf_retry", 1L, "remote_tlb_flush", 4L, "RMPUPDATE", 3L,
                        "PVALIDATE", 7L, "BUSY_SEEN", 5L), Set.of("RMPUPDATE", "PVALIDATE"));
        assertEquals("faults 2 (fixed 2), retries 1, remote TLB flushes 4, firmware calls 9 (PVALIDATE 7, RMPUPDATE 2)",
                c.line(), "an upper-case counter that is not declared a firmware call is not one");
    }

    @Test
    void firmwareCallsAreTheDeclaredOnesWhateverTheirSpelling() {
        Counters c = Counters.delta(Map.of("hyp_share", 1L), Map.of("hyp_share", 4L, "hyp_unshare", 2L,
                "pf_taken", 9L), Set.of("hyp_share", "hyp_unshare"));
        assertEquals("faults 9 (fixed 0), retries 0, remote TLB flushes 0, firmware calls 5 (hyp_share 3, "
                + "hyp_unshare 2)", c.line());
    }

    @Test
    void perGibLinesScaleTheRunToOneGib() {
        Counters c = Counters.delta(Map.of(), Map.of("TDH.MEM.PAGE.AUG", 2L, "TDG.MEM.PAGE.ACCEPT", 4L),
                Set.of("TDH.MEM.PAGE.AUG", "TDG.MEM.PAGE.ACCEPT"));
        assertEquals("Per GiB: firmware calls 3072 (TDG.MEM.PAGE.ACCEPT 2048, TDH.MEM.PAGE.AUG 1024)",
                c.perGiB(2L << 20));
        Projection p = new Projection(512, 2_048_000, 2);
        assertEquals("Per GiB: projected hardware time 1.835008000s (faults 0.786432000s + firmware 1.048576000s, "
                + "all vCPUs together)", p.perGiB(2L << 20));
        Vm vm = vm("gib", "default", 1, 4L << 20, Set.of());
        Report r = Workloads.run(vm, "demand_paging", 0, 1L << 20, 1, Map.of(), WorkloadsTest::slot0);
        assertTrue(has(r, "Per GiB: projected hardware time 0.786432000s (faults 0.786432000s + firmware "),
                r.lines().toString());
    }

    @Test
    void ratesSayWhenTheyIncludeJitWarmUp() {
        assertEquals("", Report.warmUp(new Vcpus.Phase("p", new long[1], new long[1], 1_000_000_000L, 40)));
        assertEquals("; includes JIT warm-up: the JIT compilers worked 300 ms during these 1.000000000s",
                Report.warmUp(new Vcpus.Phase("p", new long[1], new long[1], 1_000_000_000L, 300)));
        assertEquals("iteration 2: dirty", Vcpus.label("dirty-2"));
        assertEquals("demand paging", Vcpus.label("demand-paging"));
    }
}
