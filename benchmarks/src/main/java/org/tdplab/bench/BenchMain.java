package org.tdplab.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * Runs the suite in this one JVM (JMH without forks, so every model figure and its floor share the JVM, the heap and
 * the machine's load at that moment) and prints the table: each figure, its floor, and their ratio.
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar [--sizes 1G,16G] [--types default,sw_protected,tdx,snp]
 *     [--only fault,heap,range,threads,tdbuild,startup] [--iterations N] [--warmup N] [--quick] [--out FILE]
 * java -jar benchmarks/target/benchmarks.jar --against OTHER [--rounds N] [--forks N] [--hows write,prefault] ...
 * </pre>
 * {@code --quick} runs everything once on tiny sizes: that it works, not how fast. {@code --against} compares this
 * build's faults with another build's in forked JVMs ({@link Forks}), each as {@link Against} does, instead of running
 * the suite.
 */
public final class BenchMain {
    private final Settings s;
    private final Table table = new Table();
    private final PrintStream log = System.err;

    BenchMain(Settings s) {
        this.s = s;
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println(Settings.USAGE);
            return;
        }
        Settings s;
        try {
            s = Settings.parse(args);
            Guest.useOptions(s.vmOptions, s.types);
            Guest.checkOptions(s.with, s.types, "--with");
        } catch (IllegalArgumentException e) {
            System.err.println("tdplab bench: " + e.getMessage());
            System.err.println(Settings.USAGE);
            System.exit(2);
            return;
        }
        String text;
        try {
            text = new BenchMain(s).run();
        } catch (IllegalArgumentException e) { // --against a build this harness cannot drive
            System.err.println("tdplab bench: " + e.getMessage());
            System.exit(1);
            return;
        }
        System.out.print(text);
        if (s.out == null)
            return;
        try {
            Files.writeString(s.out, text, StandardCharsets.UTF_8);
        } catch (IOException e) { // checked before the run; the disk can still fill or the directory go
            System.err.println("tdplab bench: --out " + s.out + ": cannot write (" + e.getClass().getSimpleName()
                    + "); the table is above");
            System.exit(1);
        }
    }

    /** Runs the selected parts and returns the table as Markdown. */
    static String runForTest(String... args) throws Exception {
        Settings s = Settings.parse(args);
        Guest.useOptions(s.vmOptions, s.types);
        Guest.checkOptions(s.with, s.types, "--with");
        return new BenchMain(s).run();
    }

    private String run() throws Exception {
        // JMH's machine-wide lock (/tmp/jmh.lock) keeps forked runs apart; these run in this JVM, and another suite
        // running meanwhile (a test run beside a measurement) only makes both slower, which the CPU-time figures absorb
        System.setProperty("jmh.ignoreLock", "true");
        String fewHugePages = HeapPages.check();
        if (fewHugePages != null)
            log.println(fewHugePages);
        long t0 = System.nanoTime();
        if (s.comparing()) {
            String where;
            if (s.forks > 1) {
                Forks forks = new Forks(s, table, log);
                forks.run();
                where = String.format("in %d JVMs one after another (every second one loads, warms up and shoots "
                        + "%s first), %d rounds each", s.forks, s.against != null ? "the other build"
                                : "the VMs without it", forks.roundsPerFork());
            } else {
                new Against(s, table, log).run();
                where = String.format("in one JVM, %d rounds", s.rounds);
            }
            String sides = s.against != null ? String.format("--against: this build (%s) and %s",
                    System.getProperty("java.class.path"), s.against) : String.format("--with %s: this build's VMs "
                    + "with it and without it", s.withText());
            return table.markdown(String.format("tdplab bench %s %s: a fault shot of each in turn on a fresh guest, "
                    + "after warm-ups of %d GiB of guest at least and until the JIT is quiet; CPU time of the shot's "
                    + "thread + GC pauses; Java %s; %.0f s%n", sides, where, Settings.WARMUP_MIB >> 10,
                    System.getProperty("java.version"), (System.nanoTime() - t0) / 1e9));
        }
        if (s.wants("fault"))
            faults();
        if (s.wants("heap"))
            heap();
        if (s.wants("range"))
            ranges();
        if (s.wants("threads"))
            threads();
        if (s.wants("tdbuild"))
            tdBuild();
        if (s.wants("startup"))
            startup();
        return table.markdown(header((System.nanoTime() - t0) / 1e9));
    }

    private String header(double seconds) {
        Runtime rt = Runtime.getRuntime();
        return String.format("tdplab benchmarks: %d CPUs, max heap %d MiB, Java %s; sizes %s; CPU time of the best "
                + "of %d shot%s after %d warm-up (faults and range ops: warm-ups of %d GiB of guest at least; threads: "
                + "wall time; the busiest thread's CPU + wait time, median of interleaved pairs)%s; %.0f s%n",
                rt.availableProcessors(), rt.maxMemory() >> 20, System.getProperty("java.version"), s.sizeNames(),
                s.iterations, s.iterations == 1 ? "" : "s", s.warmup, Settings.WARMUP_MIB >> 10,
                s.vmOptions.isEmpty() ? "" : "; VMs of the types that have them created with " + s.vmOptions,
                seconds);
    }

    // ---- faults ------------------------------------------------------------------------------------------------

    /** Rounds of {@link #settleJit} at most, each every fault the section times, at {@link #SETTLE_MIB} at most. */
    static final int SETTLE_ROUNDS = 12;
    static final long SETTLE_MIB = 256;

    /**
     * Shots of every type, order and way of faulting the section times, round after round until one passes with the
     * JIT compiler quiet (as {@link Against#warmUp} does for its pairs). JMH's warm-up is a fixed count per row, and
     * the fault path is some twenty methods C2 compiles one by one, with a new VM's first faults trapping back to
     * the interpreter: the first rows of a run (1 GiB) were timed while it still compiled — 1.3–1.8× the same rows
     * at 16 GiB in three runs of stops 53–55. The compiled code serves every later row (one JVM, no forks).
     */
    int settleJit() {
        if (s.warmup == 0)
            return 0; // --quick: no warm-up at all
        long mib = Math.min(SETTLE_MIB, s.sizes.stream().mapToLong(Long::longValue).min().orElse(SETTLE_MIB));
        int rounds;
        try {
            rounds = Jit.untilQuiet(1, SETTLE_ROUNDS, () -> {
                for (String type : s.types)
                    for (String order : s.orders)
                        for (String how : s.hows)
                            Shot.fault(type, mib, order, how);
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
        boolean compiled = Jit.compiledSince();
        log.printf("bench: the fault path warmed in %d rounds of every fault at %d MiB%s%n", rounds, mib,
                compiled ? " (the JIT still compiling)" : "");
        return rounds;
    }

    private void faults() throws RunnerException {
        settleJit();
        for (long mib : s.sizes) {
            long pages = (mib << 20) / Guest.PAGE;
            Map<String, Double> floor = new LinkedHashMap<>();
            int warmup = s.faultWarmup(mib);
            for (RunResult r : jmh(FloorBench.class, "populate", mib, warmup, Map.of("order", s.orders)))
                floor.put(r.getParams().getParam("order"),
                        cpu(r, "floor", "order", "mib") / pages / FloorBench.reps(mib));
            // the second reference: the floor inside the kernel's own synchronization of each fault (KernelSync)
            List<String> ioctls = s.hows.stream().map(KernelSyncBench::ioctlOf).filter(java.util.Objects::nonNull)
                    .distinct().toList();
            Map<String, Double> synced = new LinkedHashMap<>();
            if (!ioctls.isEmpty())
                for (RunResult r : jmh(KernelSyncBench.class, "populate", mib, warmup, Map.of("order", s.orders,
                        "ioctl", ioctls)))
                    synced.put(r.getParams().getParam("ioctl") + " " + r.getParams().getParam("order"),
                            cpu(r, "floor+sync", "order", "mib", "ioctl") / pages / FloorBench.reps(mib));
            Map<String, Double> model = new LinkedHashMap<>();
            for (RunResult r : jmh(FaultBench.class, "fault", mib, warmup,
                    Map.of("type", s.types, "order", s.orders, "how", s.hows))) {
                String type = r.getParams().getParam("type"), order = r.getParams().getParam("order");
                String how = r.getParams().getParam("how");
                model.put(how + " " + type + " " + order, cpu(r, "fault", "type", "order", "mib", "how") / pages);
            }
            String size = Settings.sizeName(mib);
            for (String order : s.orders)
                table.row("floor: walk + allocate + CAS", order + ", " + size, floor.get(order), "ns/page", null, "",
                        "");
            for (String ioctl : ioctls)
                for (String order : s.orders)
                    table.row(SYNCED_FLOOR.get(ioctl), order + ", " + size, synced.get(ioctl + " " + order),
                            "ns/page", floor.get(order), "the floor", "");
            // the target is against the floor; the synced floor's ratio is context: what a faithful fault cannot avoid
            for (String how : s.hows)
                for (String order : s.orders)
                    for (String type : s.types)
                        table.rowWithSynced("4K fault by " + how, type + ", " + order + ", " + size,
                                model.get(how + " " + type + " " + order), "ns/page", floor.get(order), "the floor",
                                how.equals("write") ? "≤ 3×" : "", synced.get(KernelSyncBench.ioctlOf(how) + " "
                                        + order));
            // a private fault (accept → AUG, PVALIDATE → fault) against the legacy fault of the same order
            for (String how : s.hows)
                for (String order : s.orders)
                    for (String type : s.types)
                        if ((type.equals("tdx") || type.equals("snp")) && model.containsKey(how + " default " + order))
                            table.row("private 4K fault by " + how + " ÷ legacy", type + ", " + order + ", " + size,
                                    model.get(how + " " + type + " " + order), "ns/page",
                                    model.get(how + " default " + order), "default VM", how.equals("write") ? "≤ 1.5×"
                                            : "");
        }
    }

    /** The second reference's rows, by the ioctl whose synchronization they add (KernelSync counts the ops). */
    private static final Map<String, String> SYNCED_FLOOR = Map.of(
            "run", "floor + the kernel's sync of a KVM_RUN that faults once (10 locked ops: vcpu->mutex lock/unlock, "
                    + "KVM_RUN's srcu lock/unlock, 2 guest entries' srcu_read_unlock, 2 exits' srcu_read_lock, "
                    + "mmu_lock read_lock/read_unlock)",
            "prefault", "floor + the kernel's sync of a KVM_PRE_FAULT_MEMORY (6 locked ops: vcpu->mutex lock/unlock, "
                    + "srcu lock/unlock, mmu_lock read_lock/read_unlock)");

    // ---- heap --------------------------------------------------------------------------------------------------

    /** The types whose heap rows are taken (those of {@code --types}): sw_protected's are default's. */
    private static final List<String> HEAP_TYPES = List.of("default", "tdx", "snp");

    private void heap() throws InterruptedException {
        long mib = s.heapMib();
        for (String type : s.types) {
            if (!HEAP_TYPES.contains(type))
                continue;
            for (boolean data : new boolean[] { true, false }) {
                long base = usedHeap();
                Guest g = Guest.create(type, mib << 20, 1);
                if (data)
                    g.writeAll(0);
                else
                    g.vm.prefault(0, 0, g.bytes);
                long used = usedHeap() - base;
                table.row("heap per mapped 4K page, " + (data ? "written (data token)" : "prefault (no data)"),
                        type + ", " + Settings.sizeName(mib), (double) used / g.pages, "B/page", 8.0 + (data ? 8 : 0),
                        data ? "SPTE+token" : "SPTE", type.equals("default") ? data ? "≤ 24 B" : "≤ 12 B" : "");
                g.close();
                log.printf("bench: heap %s data=%s done%n", type, data);
            }
        }
    }

    private static long usedHeap() throws InterruptedException {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
            Runtime rt = Runtime.getRuntime();
            best = Math.min(best, rt.totalMemory() - rt.freeMemory());
        }
        return best;
    }

    // ---- range operations ----------------------------------------------------------------------------------------

    private void ranges() throws RunnerException {
        long mib = s.rangeMib();
        long pages = (mib << 20) / Guest.PAGE;
        Map<String, Double> model = new LinkedHashMap<>(), floor = new LinkedHashMap<>();
        for (RunResult r : jmh(RangeBench.class, "(model|floor)", mib, s.faultWarmup(mib), Map.of("op", s.ops))) {
            boolean isFloor = r.getPrimaryResult().getLabel().equals("floor");
            (isFloor ? floor : model).put(r.getParams().getParam("op"),
                    cpu(r, isFloor ? "range floor" : "range model", "op", "mib") / pages);
        }
        for (String op : s.ops) {
            boolean huge = op.equals("split") || op.equals("recover");
            table.row("range op " + op + " per SPTE", "default, " + Settings.sizeName(mib), model.get(op), "ns/SPTE",
                    huge ? Double.valueOf(61) : floor.get(op), huge ? "kernel's 61 ns" : "scan+CAS",
                    huge ? "< 61 ns" : "≤ 4×");
        }
    }

    // ---- threads -----------------------------------------------------------------------------------------------

    private void threads() throws Exception {
        long mib = s.threadMib();
        Map<String, Double> t = new LinkedHashMap<>();
        for (RunResult r : jmh(ThreadsBench.class, "(model|floor)", mib, Map.of("threads", List.of("1", "2"))))
            t.put(r.getPrimaryResult().getLabel() + r.getParams().getParam("threads"), ns(r));
        table.row("2 vCPU threads ÷ 1 (speed-up), disjoint halves, wall", "default, random, " + Settings.sizeName(mib),
                t.get("model1") / t.get("model2"), "×", t.get("floor1") / t.get("floor2"), "the floor's own", "≥ 1.8×");
        // the shots costed per thread (what they take on two cores of their own: Cpu.busyNow), one thread against
        // two in back-to-back pairs, the median of the pairs' ratios
        int pairs = s.quick ? 3 : 10 * s.iterations + 1; // --quick: that it works
        log.printf("bench: threads by CPU + wait time, %d interleaved pairs%n", pairs);
        ThreadsBench.Pairs floor = ThreadsBench.pairs("floor", "default", mib, s.warmup, pairs, false);
        // the target's figure is the default VM's; the private types' show what their backends' locks cost
        for (String type : s.types) {
            ThreadsBench.Pairs model = ThreadsBench.pairs("model", type, mib, s.warmup, pairs, false);
            String setup = type + ", random, " + Settings.sizeName(mib);
            table.row("2 vCPU threads ÷ 1 (speed-up), disjoint halves, busiest thread's CPU + wait time, median of "
                    + pairs + " pairs", setup, model.speedup(), "×", floor.speedup(), "the floor's own",
                    type.equals("default") ? "≥ 1.8×" : "");
            // what running at once costs in CPU: a cache line two threads write shows here, whatever the neighbours do
            table.row("2 vCPU threads' CPU time ÷ 1 thread's, same faults, median of " + pairs + " pairs", setup,
                    model.cpuRatio(), "×", floor.cpuRatio(), "the floor's own", "");
            // the same halves in two VMs of one vCPU each: the threads share the host, not a VM — the difference from
            // the row above is what sharing one VM's state costs
            ThreadsBench.Pairs apart = ThreadsBench.pairs("model", type, mib, s.warmup, pairs, false, true);
            table.row("2 VMs' vCPU threads' CPU time ÷ 1 thread's, same faults (a VM of 1 vCPU per half), median of "
                    + pairs + " pairs", setup, apart.cpuRatio(), "×", floor.cpuRatio(), "the floor's own", "");
        }
        // reads of memory mapped before the shot: the walks of mapped tables (a TD's S-EPT walk among them), no fault
        ThreadsBench.Pairs floorReads = ThreadsBench.pairs("floor", "default", mib, s.warmup, pairs, true);
        for (String type : s.types) {
            ThreadsBench.Pairs model = ThreadsBench.pairs("model", type, mib, s.warmup, pairs, true);
            String setup = type + ", random, " + Settings.sizeName(mib);
            table.row("2 vCPU threads ÷ 1 (speed-up), reads of mapped halves, busiest thread's CPU + wait time, "
                    + "median of " + pairs + " pairs", setup, model.speedup(), "×", floorReads.speedup(),
                    "the floor's own", "");
            table.row("2 vCPU threads' CPU time ÷ 1 thread's, same reads, median of " + pairs + " pairs", setup,
                    model.cpuRatio(), "×", floorReads.cpuRatio(), "the floor's own", "");
        }
    }

    // ---- TD build ------------------------------------------------------------------------------------------------

    private void tdBuild() throws RunnerException {
        long mib = s.tdMib();
        long pages = (mib << 20) / Guest.PAGE;
        for (RunResult r : jmh(TdBuildBench.class, "initMemRegion", mib, Map.of("measure", List.of("false", "true"))))
            table.row("TD build: tdx.init_mem_region" + (Boolean.parseBoolean(r.getParams().getParam("measure"))
                    ? " measure" : ""), "tdx, " + Settings.sizeName(mib), cpu(r, "tdbuild", "measure", "mib") / pages,
                    "ns/page", null, "", "");
    }

    // ---- start-up ------------------------------------------------------------------------------------------------

    private void startup() throws IOException, InterruptedException {
        Startup.Result r = Startup.measure(s.root, s.quick ? 1 : 3);
        if (r == null) {
            log.println("bench: start-up skipped: no ./tdplab found (run from the repository, or -Dtdplab.root=DIR)");
            return;
        }
        table.row("./tdplab run of a 3-line scenario (wall)", "best of " + r.runs(), r.tdplabMillis(), "ms",
                r.bareMillis(), "a bare JVM", "≤ 1 s and ≤ 5×");
    }

    // ---- JMH -----------------------------------------------------------------------------------------------------

    private Collection<RunResult> jmh(Class<?> bench, String method, long mib, Map<String, List<String>> params)
            throws RunnerException {
        return jmh(bench, method, mib, s.warmup, params);
    }

    private Collection<RunResult> jmh(Class<?> bench, String method, long mib, int warmup,
            Map<String, List<String>> params) throws RunnerException {
        log.printf("bench: %s.%s at %s%n", bench.getSimpleName(), method, Settings.sizeName(mib));
        ChainedOptionsBuilder o = new OptionsBuilder()
                .include("^" + bench.getName().replace(".", "\\.") + "\\." + method + "$")
                .forks(0)
                .shouldFailOnError(true)
                .warmupIterations(warmup)
                .measurementIterations(s.iterations)
                .verbosity(VerboseMode.SILENT)
                .param("mib", Long.toString(mib));
        params.forEach((k, v) -> o.param(k, v.toArray(new String[0])));
        return new Runner(o.build()).run();
    }

    /**
     * The best shot in wall-clock nanoseconds: on a machine shared with other work the least disturbed shot is the
     * one that says what the code costs, for the model and its floor alike. Only where threads run at once.
     */
    private static double ns(RunResult r) {
        return r.getPrimaryResult().getStatistics().getMin();
    }

    /** The best shot's CPU time ({@link Cpu}), under the key the benchmark recorded it with. */
    private static double cpu(RunResult r, String what, String... params) {
        Object[] parts = new Object[params.length + 1];
        parts[0] = what;
        for (int i = 0; i < params.length; i++)
            parts[i + 1] = r.getParams().getParam(params[i]);
        return Cpu.best(Cpu.key(parts));
    }

    static List<String> list(String... v) {
        return Arrays.asList(v);
    }
}
