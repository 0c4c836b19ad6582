package org.tdplab.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The two halves of a fresh guest faulted by vCPU 0 and 1 (a {@code default} VM unless {@link #type} says otherwise;
 * guest writes, or the accept of private memory; random order within each half) from one thread or two, and the
 * floor doing the same; or, with {@link #reads}, the halves mapped (and accepted) before the shot and read in it —
 * walks of mapped tables, TLB misses — and the floor's walks without allocation. The threads exist before the shot;
 * the shot ends when both halves are done.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ThreadsBench {
    @Param({ "1" })
    public int threads;
    @Param({ "64" })
    public long mib;
    @Param({ "default" })
    public String type;

    /** Shots read memory mapped before them instead of faulting it. */
    boolean reads;
    /**
     * The halves are two VMs of one vCPU each instead of one VM's two vCPUs: what the threads then share is the host
     * (and the JVM), not a VM's state.
     */
    boolean separate;

    private ExecutorService pool;
    private Guest guest;
    /** With {@link #separate}: the VM of each half (else both are {@link #guest}). */
    private final Guest[] halves = new Guest[2];
    private Floor floor;
    private long pages;

    @Setup(Level.Trial)
    public void start() {
        pool = Executors.newFixedThreadPool(2);
    }

    @TearDown(Level.Trial)
    public void stop() {
        pool.shutdownNow();
    }

    @Setup(Level.Iteration)
    public void setup() {
        pages = (mib << 20) / Guest.PAGE;
        if (separate) {
            halves[0] = Guest.create(type, mib << 19, 1);
            halves[1] = Guest.create(type, mib << 19, 1);
        } else {
            guest = Guest.create(type, mib << 20, 2);
            halves[0] = halves[1] = guest;
        }
        floor = new Floor(pages);
        if (reads) {
            long each = pages / 2;
            for (int v = 0; v < 2; v++)
                fault(v, new Order(each, false), each);
            for (long g = 0; g < pages; g++)
                floor.map(g, g + 0x100000);
        }
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        halves[0].close();
        if (halves[1] != halves[0])
            halves[1].close();
        guest = halves[0] = halves[1] = null;
        floor = null;
    }

    @Benchmark
    public long model() throws Exception {
        if (reads)
            return split((v, from, n) -> separate ? halves[v].read(new Order(n, true), 0, 0, n)
                    : guest.read(new Order(n, true), v, from, n));
        return split((v, from, n) -> fault(v, new Order(n, true), n));
    }

    /** Half {@code v} faulted by its vCPU: vCPU {@code v} of the one VM, or the only vCPU of VM {@code v}. */
    private long fault(int v, Order order, long n) {
        return separate ? halves[v].fault("write", order, 0, 0, n) : guest.fault("write", order, v, v * n, n);
    }

    @Benchmark
    public long floor() throws Exception {
        return split((v, from, n) -> {
            Order o = new Order(n, true);
            long sum = 0;
            for (long i = 0; i < n; i++) {
                long g = from + o.page(i);
                if (reads)
                    sum += floor.touch(g);
                else
                    floor.map(g, g + 0x100000);
            }
            return sum >= 0 ? n : 0; // the walks' result used, so that they are not dropped
        });
    }

    private interface Part {
        long run(int vcpu, long from, long n);
    }

    /**
     * Runs the two halves, each on vCPU 0 and 1: one after the other on one thread, or at once on two, so that both
     * shots do the same work in the same order and only the concurrency differs. Beside the wall clock JMH takes, it
     * measures the busiest thread's CPU time plus its time blocked or parked ({@link Cpu#busyNow}), plus the
     * collectors' pauses: the shot on cores of its own, which a neighbour taking one of this machine's two cores
     * does not change.
     */
    private long split(Part part) throws Exception {
        long each = pages / 2;
        long gc0 = Cpu.gcNanos();
        List<Future<long[]>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int first = t;
            done.add(pool.submit(() -> {
                long busy0 = Cpu.busyNow();
                long cpu0 = Cpu.cpuNow();
                long n = 0;
                for (int v = first; v < 2; v += threads)
                    n += part.run(v, v * each, each);
                return new long[] { n, Cpu.busyNow() - busy0, Cpu.cpuNow() - cpu0 };
            }));
        }
        long n = 0, busiest = 0, cpu = 0;
        for (Future<long[]> f : done) {
            long[] r = f.get();
            n += r[0];
            busiest = Math.max(busiest, r[1]);
            cpu += r[2];
        }
        lastCost = busiest + Cpu.gcNanos() - gc0;
        lastCpu = cpu;
        return n;
    }

    /** The cost {@link #split} measured last: the busiest thread's CPU + wait time, plus the collectors' pauses. */
    private long lastCost;
    /** The CPU time of all the shot's threads that {@link #split} measured last. */
    private long lastCpu;

    /**
     * Medians over interleaved pairs ({@link #pairs}): the speed-up of two threads over one by cost, and the CPU
     * time two threads spend for the same faults ÷ what one spends (1.0: running at once costs nothing extra).
     */
    record Pairs(double speedup, double cpuRatio) {
    }

    /**
     * Two threads against one ({@link Pairs}), measured in pairs: a one-thread shot and a two-thread shot back to
     * back on fresh guests (which one goes first alternates), the ratios taken within each pair, and their medians.
     * A neighbour that slows this machine for a while slows both shots of a pair; taking the best of each kind apart
     * (what JMH's rows do) pairs shots from different moments.
     */
    static Pairs pairs(String what, String type, long mib, int warmup, int pairs, boolean reads) throws Exception {
        return pairs(what, type, mib, warmup, pairs, reads, false);
    }

    /** {@link #pairs(String, String, long, int, int, boolean)}, the halves in two VMs when {@code separate}. */
    static Pairs pairs(String what, String type, long mib, int warmup, int pairs, boolean reads, boolean separate)
            throws Exception {
        ThreadsBench b = new ThreadsBench();
        b.reads = reads;
        b.separate = separate;
        b.mib = mib;
        b.type = type;
        b.start();
        try {
            double[] speedups = new double[pairs], cpuRatios = new double[pairs];
            for (int i = -warmup; i < pairs; i++) {
                boolean oneFirst = (i & 1) == 0;
                long[] first = b.shot(what, oneFirst ? 1 : 2), second = b.shot(what, oneFirst ? 2 : 1);
                long[] one = oneFirst ? first : second, two = oneFirst ? second : first;
                if (i >= 0) {
                    speedups[i] = (double) one[0] / two[0];
                    cpuRatios[i] = (double) two[1] / one[1];
                }
            }
            return new Pairs(median(speedups), median(cpuRatios));
        } finally {
            b.stop();
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** One shot on a fresh guest: its cost and its threads' CPU time. */
    private long[] shot(String what, int threads) throws Exception {
        this.threads = threads;
        setup();
        try {
            if (what.equals("model"))
                model();
            else
                floor();
            return new long[] { lastCost, lastCpu };
        } finally {
            teardown();
        }
    }
}
