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
 * 1 or 2 vCPU threads faulting disjoint halves of a fresh guest (default VM, guest writes, random order), and the
 * floor doing the same with 1 or 2 threads. The threads exist before the shot; the shot ends when both are done.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ThreadsBench {
    @Param({ "1" })
    public int threads;
    @Param({ "64" })
    public long mib;

    private ExecutorService pool;
    private Guest guest;
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
        guest = Guest.create("default", mib << 20, 2);
        floor = new Floor(pages);
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        guest.close();
        guest = null;
        floor = null;
    }

    @Benchmark
    public long model() throws Exception {
        return split((v, from, n) -> guest.fault("write", new Order(n, true), v, from, n));
    }

    @Benchmark
    public long floor() throws Exception {
        return split((v, from, n) -> {
            Order o = new Order(n, true);
            for (long i = 0; i < n; i++) {
                long g = from + o.page(i);
                floor.map(g, g + 0x100000);
            }
            return n;
        });
    }

    private interface Part {
        long run(int vcpu, long from, long n);
    }

    private long split(Part part) throws Exception {
        long each = pages / threads;
        List<Future<Long>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int v = t;
            done.add(pool.submit(() -> part.run(v, v * each, each)));
        }
        long n = 0;
        for (Future<Long> f : done)
            n += f.get();
        return n;
    }
}
