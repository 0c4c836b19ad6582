package org.tdplab.bench;

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
 * The floor of a fault: walk + allocate + CAS of every page of a fresh radix, in the same order as the model's. A
 * guest below 4 GiB is populated several times per shot (on fresh radices, at most 16) so that a shot lasts long
 * enough for the CPU clock; the figure is per page populated.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class FloorBench {
    @Param({ "seq" })
    public String order;
    @Param({ "64" })
    public long mib;

    private Floor[] floors;
    private Order pages;

    /** How many radices a shot populates for a guest of {@code mib}. */
    static int reps(long mib) {
        return (int) Math.max(1, Math.min(16, 4096 / mib));
    }

    /** The fresh radices of one shot for a guest of {@code mib}: {@link #reps} of them. */
    static Floor[] radices(long mib) {
        Floor[] floors = new Floor[reps(mib)];
        for (int i = 0; i < floors.length; i++)
            floors[i] = new Floor((mib << 20) / Guest.PAGE);
        return floors;
    }

    @Setup(Level.Iteration)
    public void setup() {
        floors = radices(mib);
        pages = Order.of(order, (mib << 20) / Guest.PAGE);
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        floors = null;
    }

    @Benchmark
    public long populate() {
        long c0 = Cpu.now();
        long n = pages.size();
        for (Floor floor : floors)
            for (long i = 0; i < n; i++) {
                long g = pages.page(i);
                floor.map(g, g + 0x100000);
            }
        Cpu.record(Cpu.key("floor", order, mib), c0);
        return n * floors.length;
    }
}
