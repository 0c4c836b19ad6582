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
 * The second reference of a fault: {@link FloorBench}'s walk + allocate + CAS of every page of fresh radices, in the
 * same order and as many per shot, each page inside the kernel's own synchronization of that fault
 * ({@link KernelSync}): a {@code KVM_RUN} whose access faults once ({@code ioctl=run}: the guest write, the accept,
 * the workload's touch) or a {@code KVM_PRE_FAULT_MEMORY} ({@code ioctl=prefault}). Timed as the floor is.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class KernelSyncBench {
    @Param({ "seq" })
    public String order;
    @Param({ "64" })
    public long mib;
    @Param({ "run" })
    public String ioctl;

    private Floor[] floors;
    private Order pages;
    private KernelSync sync;

    @Setup(Level.Iteration)
    public void setup() {
        floors = FloorBench.radices(mib);
        pages = Order.of(order, (mib << 20) / Guest.PAGE);
        sync = new KernelSync();
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        floors = null;
    }

    @Benchmark
    public long populate() {
        long c0 = Cpu.now();
        long n = pages.size();
        boolean run = switch (ioctl) {
        case "run" -> true;
        case "prefault" -> false;
        default -> throw new IllegalArgumentException("ioctl=" + ioctl + " (run or prefault)");
        };
        for (Floor floor : floors)
            if (run)
                runs(floor, n);
            else
                preFaults(floor, n);
        Cpu.record(Cpu.key("floor+sync", order, mib, ioctl), c0);
        return n * floors.length;
    }

    private void runs(Floor floor, long n) {
        for (long i = 0; i < n; i++) {
            long g = pages.page(i);
            sync.run(floor, g, g + 0x100000);
        }
    }

    private void preFaults(Floor floor, long n) {
        for (long i = 0; i < n; i++) {
            long g = pages.page(i);
            sync.preFault(floor, g, g + 0x100000);
        }
    }

    /** The {@code ioctl} a fault of {@code how} stands for, or null (no second reference). */
    static String ioctlOf(String how) {
        return switch (how) {
        case "write", "workload" -> "run";
        case "prefault" -> "prefault";
        default -> null;
        };
    }
}
