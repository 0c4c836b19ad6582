package org.tdplab.mmu.scenario.run;

import java.util.List;
import java.util.Map;

/**
 * The outcome of running one file: its size and every failure, in the order found; and for reports, what each
 * statement did, each expectation's result, and each VM's counters and invariant results at the end of the file.
 */
public record FileResult(String file, int statements, int expectations, List<Failure> failures, List<StepRecord> steps,
        List<ExpectRecord> expects, List<VmRecord> vms, long nanos, List<VmPicture> pictures,
        List<Timeline> timelines) {
    public FileResult {
        pictures = List.copyOf(pictures);
        timelines = List.copyOf(timelines);
        failures = List.copyOf(failures);
        steps = List.copyOf(steps);
        expects = List.copyOf(expects);
        vms = List.copyOf(vms);
    }

    public FileResult(String file, int statements, int expectations, List<Failure> failures, List<StepRecord> steps,
            List<ExpectRecord> expects, List<VmRecord> vms, long nanos) {
        this(file, statements, expectations, failures, steps, expects, vms, nanos, List.of(), List.of());
    }

    public FileResult(String file, int statements, int expectations, List<Failure> failures) {
        this(file, statements, expectations, failures, List.of(), List.of(), List.of(), 0);
    }

    /**
     * One statement: {@code result} is {@code ok}, {@code error} (with {@code errno}), {@code exit},
     * {@code exception} or {@code violations}; {@code detail} says more; {@code output} is what it printed.
     */
    public record StepRecord(int line, String source, String result, String errno, String detail, long nanos,
            List<String> output) {
    }

    /** One expectation: whether it held, and what was found when it did not. */
    public record ExpectRecord(int line, String source, boolean held, String found) {
    }

    /**
     * A VM at the end of the file, before its teardown — or, when the file destroyed it ({@code destroyed}), after
     * that teardown, with its final counters: its counters, which of them count firmware calls, and the checker's
     * violations (for a destroyed VM, those of the check just before its destroy); whether KVM_BUG_ON marked it,
     * and whether it is dead (bugged, or killed without it).
     */
    public record VmRecord(String name, String type, boolean bugged, boolean dead, Map<String, Long> counters,
            List<String> violations, boolean destroyed, java.util.Set<String> firmwareCalls) {
        public VmRecord {
            counters = new java.util.TreeMap<>(counters);
            violations = List.copyOf(violations);
            firmwareCalls = new java.util.TreeSet<>(firmwareCalls);
        }

        public VmRecord(String name, String type, boolean bugged, Map<String, Long> counters,
                List<String> violations) {
            this(name, type, bugged, bugged, counters, violations, false, java.util.Set.of());
        }
    }

    public boolean ok() {
        return failures.isEmpty();
    }

    /** {@code FILE: 42 statements, 17 expectations, ok} or {@code … 2 failed}. */
    public String summary() {
        return file + ": " + count(statements, "statement") + ", " + count(expectations, "expectation") + ", "
                + (ok() ? "ok" : failures.size() + " failed");
    }

    private static String count(int n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }
}
