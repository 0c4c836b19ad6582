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
import org.openjdk.jmh.infra.Blackhole;

/**
 * Range operations over a guest whose every page is mapped, one shot each, per 4K SPTE: {@code zap}
 * ({@code kvm_zap_gfn_range}), {@code wp} (dirty logging enabled: write-protect), {@code clear_dirty}
 * ({@code KVM_CLEAR_DIRTY_LOG} after every page was dirtied again), {@code age} (clear_young), {@code split} (eager
 * split of 2M leaves when logging starts; per 4K SPTE created) and {@code recover} (logging disabled: the huge
 * pages recovered in place; per 4K SPTE removed). The floor of each: {@link Floor#scan} of as many leaves.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RangeBench {
    @Param({ "zap" })
    public String op;
    @Param({ "64" })
    public long mib;

    private Guest guest;
    private Floor floor;
    private long pages;

    @Setup(Level.Iteration)
    public void setup() {
        long bytes = mib << 20;
        pages = bytes / Guest.PAGE;
        guest = Guest.create("default", bytes, 1, Guest.rangeBacking(op));
        guest.prepareRange(op);
        floor = new Floor(pages);
        for (long g = 0; g < pages; g++)
            floor.map(g, g + 0x100000);
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        guest.close();
        guest = null;
        floor = null;
    }

    @Benchmark
    public void model(Blackhole bh) {
        long c0 = Cpu.now();
        bh.consume(guest.rangeOp(op));
        Cpu.record(Cpu.key("range model", op, mib), c0);
    }

    @Benchmark
    public long floor() {
        long clear = switch (op) {
        case "zap" -> Floor.ZAP;
        case "wp" -> Floor.WP;
        case "clear_dirty" -> Floor.CLEAR_DIRTY;
        default -> Floor.AGE;
        };
        long c0 = Cpu.now();
        long n = floor.scan(0, pages, clear);
        Cpu.record(Cpu.key("range floor", op, mib), c0);
        return n;
    }
}
