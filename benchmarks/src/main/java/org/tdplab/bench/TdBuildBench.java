package org.tdplab.bench;

import java.util.Map;
import java.util.Set;
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
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Vm;

/** A TD's build: {@code tdx.init_mem_region} of its image (PAGE.ADD, and 16 MR.EXTENDs per page when measured). */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class TdBuildBench {
    @Param({ "false" })
    public boolean measure;
    @Param({ "16" })
    public long mib;

    private Vm td;

    @Setup(Level.Iteration)
    public void setup() {
        td = Guest.tdImage(mib << 20);
    }

    @TearDown(Level.Iteration)
    public void teardown() {
        td.destroy();
    }

    @Benchmark
    public void initMemRegion() {
        long c0 = Cpu.now();
        td.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0L, "size", (long) (mib << 20)),
                measure ? Set.of("measure") : Set.of()));
        Cpu.record(Cpu.key("tdbuild", measure, mib), c0);
    }
}
