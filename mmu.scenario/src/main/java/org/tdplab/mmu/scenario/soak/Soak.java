package org.tdplab.mmu.scenario.soak;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

import org.tdplab.mmu.scenario.run.Interruption;
import org.tdplab.mmu.scenario.run.TypeOptions;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Text;

/**
 * {@code ./tdplab soak}: random operation sequences from several threads at once on one VM of each type, the
 * invariant checker after each round (every thread's operations of the round done), and hot-swaps of the backend
 * while the threads run. Each VM lives {@link #ROUNDS} rounds and is seeded on its own (the seed is printed); the
 * seed fixes each thread's operations, not how the threads interleave.
 *
 * <p>On a violation the VM's operations so far are run again on one thread, in round order and thread by thread
 * within a round: if that fails too it is shrunk ({@link Trial#shrink}) and written as a scenario file that
 * reproduces it; if it does not, the failure needed the threads' interleaving, and the unshrunk single-threaded
 * sequence is written anyway, marked so (run the seed again, or write a Fray test for the race).
 */
public final class Soak {
    /** Rounds per VM, operations per thread per round, shrinking trials at most. */
    static final int ROUNDS = 40, OPS_PER_ROUND = 6, SHRINK_BUDGET = 400;

    /**
     * Hot-swaps the backend serving a VM type, the way the runtime does (its VMs suspend, then resume); false when
     * nothing could be swapped (the type's backend is not one a swap can stop).
     */
    public interface Swapper {
        boolean swap(String type) throws Exception;
    }

    /**
     * What to run: the VM types, how long per type ({@code millis}, or {@code vms} VMs when {@code millis} is 0),
     * the first seed, threads, where failures go, and VM options each VM is created with ({@code vmOptions}).
     */
    public record Options(List<String> types, long millis, int vms, long seed, int threads, Path out,
            boolean progress, Map<String, String> vmOptions) {
        public Options(List<String> types, long millis, int vms, long seed, int threads, Path out, boolean progress) {
            this(types, millis, vms, seed, threads, out, progress, Map.of());
        }

        /** The options as the soak's command line writes them ({@code  --option k=v} each). */
        String optionArgs() {
            StringBuilder sb = new StringBuilder();
            new java.util.TreeMap<>(vmOptions).forEach((k, v) -> sb.append(" --option ").append(k).append('=')
                    .append(v));
            return sb.toString();
        }
    }

    private final VmManager manager;
    private final Swapper swapper;
    private final PrintStream out, err;

    public Soak(VmManager manager, Swapper swapper, PrintStream out, PrintStream err) {
        this.manager = manager;
        this.swapper = swapper;
        this.out = out;
        this.err = err;
    }

    /** Runs the soak; 0 nothing found, 1 a violation (its scenario written to {@code out}). */
    public int run(Options o) throws InterruptedException {
        int status = 0;
        long seed = o.seed();
        for (String type : o.types()) {
            long start = System.nanoTime(), deadline = start + o.millis() * 1_000_000L;
            int vms = 0;
            long ops = 0, swaps = 0;
            while (o.millis() > 0 ? System.nanoTime() < deadline : vms < o.vms()) {
                if (Interruption.requested())
                    throw new InterruptedException();
                out.printf("soak %s seed=%d%n", type, seed);
                out.flush();
                Result r = soakOne(type, seed, o);
                vms++;
                ops += r.ops;
                swaps += r.swaps;
                if (o.progress())
                    err.printf("\rsoak %s: %d VMs, %d operations, %d hot-swaps, %ds ", type, vms, ops, swaps,
                            (System.nanoTime() - start) / 1_000_000_000L);
                if (r.failure != null) {
                    if (o.progress())
                        err.println();
                    report(type, seed, r, o);
                    return 1;
                }
                seed++;
            }
            if (o.progress())
                err.println();
            out.printf("soak %s: %d VMs, %d operations, %d hot-swaps, %.1f min, no violation%n", type, vms, ops,
                    swaps, (System.nanoTime() - start) / 60e9);
        }
        out.printf("soak: next seed %d%n", seed);
        return status;
    }

    private static final class Result {
        final List<Op> history = new ArrayList<>();
        List<String> failure;
        long ops, swaps;
    }

    private Result soakOne(String type, long seed, Options o) throws InterruptedException {
        int threads = o.threads();
        Layout layout = Layout.of(type, threads, TypeOptions.forType(manager, type, o.vmOptions()));
        Result result = new Result();
        Random master = new Random(seed);
        Vm vm = layout.create(manager, "soak-" + type + "-" + seed);
        try {
            for (int round = 0; round < ROUNDS; round++) {
                long roundSeed = master.nextLong();
                boolean swap = swapper != null && round % 10 == 5;
                List<List<Op>> perThread = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    Random rnd = new Random(roundSeed + t);
                    List<Op> mine = new ArrayList<>();
                    for (int i = 0; i < OPS_PER_ROUND; i++) {
                        mine.add(own(layout.random(rnd), t, threads));
                    }
                    perThread.add(mine);
                }
                AtomicReference<Throwable> failure = new AtomicReference<>();
                java.util.concurrent.atomic.AtomicBoolean swapped = new java.util.concurrent.atomic.AtomicBoolean();
                CyclicBarrier go = new CyclicBarrier(threads + (swap ? 1 : 0));
                List<Thread> running = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    List<Op> mine = perThread.get(t);
                    running.add(new Thread(() -> guard(failure, () -> {
                        go.await();
                        for (Op op : mine)
                            op.apply(vm, layout);
                    }), "soak-vcpu-" + t));
                }
                if (swap)
                    running.add(new Thread(() -> guard(failure, () -> {
                        go.await();
                        swapped.set(swapper.swap(type));
                    }), "soak-swap"));
                running.forEach(Thread::start);
                for (Thread t : running)
                    Interruption.join(t, () -> { }); // the round is short: its threads finish it
                if (Interruption.requested()) // Ctrl-C in the shell: stop after this round
                    throw new InterruptedException();
                perThread.forEach(result.history::addAll);
                result.ops += (long) threads * OPS_PER_ROUND;
                if (swapped.get())
                    result.swaps++;
                if (failure.get() != null) {
                    result.failure = List.of("round " + round + ": " + Text.internalError(failure.get()));
                    return result;
                }
                List<String> violations = vm.check().violations();
                if (!violations.isEmpty()) {
                    result.failure = violations;
                    return result;
                }
            }
            return result;
        } finally {
            try {
                vm.destroy();
            } catch (RuntimeException e) {
                if (result.failure == null)
                    result.failure = List.of("teardown: " + Text.internalError(e));
            }
        }
    }

    /** A thread's guest writes stay in its own 64K blocks (every {@code threads}-th one). */
    static final long BLOCK = 0x10000;

    /**
     * The operation as thread {@code t} runs it: on its own vCPU (a vCPU runs on one thread), and a write inside one
     * of its own blocks. Two vCPUs writing one page at once race in the guest (either value may stay), which the data
     * oracle cannot tell from lost data; the selftests give each vCPU its own region for the same reason. Reads and
     * executes go anywhere: the oracle does not judge a read that a write of the page overlapped, and judges the
     * rest. Everything else (host operations, conversions, accepts) keeps its range too.
     */
    static Op own(Op op, int t, int threads) {
        if (!op.isWrite())
            return new Op(op.kind(), t, op.gpa(), op.size(), op.arg());
        long blocks = Layout.END / BLOCK;
        long block = (op.gpa() / BLOCK) / threads * threads + t;
        if (block >= blocks)
            block -= threads;
        long offset = op.gpa() % BLOCK;
        return new Op(op.kind(), t, block * BLOCK + offset, Math.min(op.size(), BLOCK - offset), op.arg());
    }

    private interface Body {
        void run() throws Exception;
    }

    private static void guard(AtomicReference<Throwable> failure, Body body) {
        try {
            body.run();
        } catch (Throwable t) {
            failure.compareAndSet(null, t);
        }
    }

    /** Runs the failing VM's history on one thread, shrinks it if it fails there too, and writes the scenario. */
    private void report(String type, long seed, Result r, Options o) {
        out.printf("soak %s seed=%d: VIOLATION%n", type, seed);
        r.failure.forEach(f -> out.println("  " + f));
        Layout single = Layout.of(type, o.threads(), TypeOptions.forType(manager, type, o.vmOptions()));
        Trial.Verdict v = Trial.run(manager, single, r.history);
        String header;
        if (v.failed()) {
            v = Trial.shrink(manager, v, SHRINK_BUDGET);
            header = "./tdplab soak --type " + type + " --seed " + seed + " --threads " + o.threads()
                    + o.optionArgs() + ": a violation, reproduced on one thread and shrunk to " + (v.failedAt() + 1)
                    + " operations.";
        } else {
            header = "./tdplab soak --type " + type + " --seed " + seed + " --threads " + o.threads()
                    + o.optionArgs() + ": a violation seen with " + o.threads()
                    + " threads that did NOT reproduce on one thread:\n"
                    + "this is every operation of the VM in round order, thread by thread (it passes when run);\n"
                    + "the failure needs an interleaving: run the seed again, or write a Fray test for it.\n"
                    + "The multi-threaded run found:";
            v = new Trial.Verdict(v.layout(), v.ops(), v.ops().size() - 1, r.failure, v.outcomes(), v.sharedMask());
        }
        try {
            Files.createDirectories(o.out());
            Path file = o.out().resolve("soak-" + type + "-" + seed + ".scn");
            Files.writeString(file, v.scenario(header));
            out.println("soak: wrote " + file + " (./tdplab run --checked " + file + ")");
        } catch (IOException e) {
            err.println("tdplab soak: " + o.out() + ": cannot write the scenario: " + e.getMessage());
        }
    }
}
