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

/** The floor of a fault: walk + allocate + CAS of every page of a fresh radix, in the same order as the model's. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class FloorBench {
    @Param({ "seq" })
    public String order;
    @Param({ "64" })
    public long mib;

    private Floor floor;
    private Order pages;

    @Setup(Level.Iteration)
    public void setup() {
        long n = (mib << 20) / Guest.PAGE;
        floor = new Floor(n);
        pages = Order.of(order, n);
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        floor = null;
    }

    @Benchmark
    public long populate() {
        long c0 = Cpu.now();
        long n = pages.size();
        for (long i = 0; i < n; i++) {
            long g = pages.page(i);
            floor.map(g, g + 0x100000);
        }
        Cpu.record(Cpu.key("floor", order, mib), c0);
        return n;
    }
}
