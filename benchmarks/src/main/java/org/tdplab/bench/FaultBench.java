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
 * The 4K demand fault of every page of a fresh guest, one shot per VM: by guest write (the accept that faults, for
 * private memory), by {@code KVM_PRE_FAULT_MEMORY} of each page, or by the {@code run demand_paging} workload.
 * Every oracle stays on (data tokens, TLBs); the invariant checker is not run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class FaultBench {
    @Param({ "default" })
    public String type;
    @Param({ "seq" })
    public String order;
    @Param({ "64" })
    public long mib;
    @Param({ "write" })
    public String how;

    private Guest guest;
    private Order pages;

    @Setup(Level.Iteration)
    public void setup() {
        guest = Guest.create(type, mib << 20, 1);
        pages = Order.of(order, guest.pages);
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        guest.close();
        guest = null;
    }

    @Benchmark
    public long fault() {
        boolean threads = how.equals("workload"); // its vCPU threads are not this one
        long c0 = threads ? Cpu.processNow() : Cpu.now();
        long n = guest.fault(how, pages, 0, 0, guest.pages);
        if (threads)
            Cpu.recordProcess(Cpu.key("fault", type, order, mib, how), c0);
        else
            Cpu.record(Cpu.key("fault", type, order, mib, how), c0);
        return n;
    }
}
