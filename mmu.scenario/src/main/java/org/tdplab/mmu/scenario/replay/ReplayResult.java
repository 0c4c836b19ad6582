package org.tdplab.mmu.scenario.replay;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import org.tdplab.mmu.scenario.trace.Operation;

/** What a replay found, and how it prints. */
public final class ReplayResult {
    /** At most this many SPTE changes are listed per side of a differing step. */
    private static final int CHANGES_SHOWN = 8;

    final long unattributed;
    final boolean exact;
    long nanos;
    final List<Replayer.Target> targets = new ArrayList<>();
    final List<Difference> differences = new ArrayList<>();
    final Map<String, Long> skipped = new TreeMap<>();
    final List<String> failures = new ArrayList<>();

    ReplayResult(long unattributed, boolean exact) {
        this.unattributed = unattributed;
        this.exact = exact;
    }

    void skip(Step s, String why) {
        skipped.merge((s.kind == Step.Kind.FAULT ? "kvm_page_fault" : Operation.parse(s.text).name()) + " (" + why
                + ")", 1L, Long::sum);
    }

    public boolean identical() {
        return differences.isEmpty() && failures.isEmpty() && targets.stream().allMatch(t -> t.violations.isEmpty());
    }

    public int differenceCount() {
        return differences.size();
    }

    /** The trace lines of the steps that differ, in order. */
    public List<Integer> differingLines() {
        return differences.stream().map(d -> d.step().line).toList();
    }

    public List<String> violations() {
        return targets.stream().flatMap(t -> t.violations.stream().map(v -> t.traced + ": " + v)).toList();
    }

    /** Prints the first {@code shown} differing steps, then one line per VM and the totals. */
    public void print(PrintStream out, int shown) {
        int n = 0;
        for (Difference d : differences) {
            if (n++ == shown) {
                out.printf("… %d more differing steps (--max N shows more)%n", differences.size() - shown);
                break;
            }
            print(out, d);
        }
        failures.forEach(out::println);
        long steps = 0;
        for (Replayer.Target t : targets) {
            steps += t.faults + t.operations + 1;
            out.printf(Locale.ROOT, "VM %s (%s%s): %s, %s, %s%n", t.traced, t.tracedType,
                    t.type().equals(t.tracedType) ? "" : " → " + t.type(), plural(t.faults, "fault", "faults"),
                    plural(t.operations, "operation", "operations"),
                    t.differing == 0 ? "no step differs" : plural(t.differing, "step differs", "steps differ"));
            t.violations.stream().limit(20).forEach(v -> out.println("  invariant violated " + v));
        }
        skipped.forEach((what, count) -> out.printf(Locale.ROOT, "skipped %,d × %s%n", count, what));
        if (unattributed > 0)
            out.printf(Locale.ROOT, "%,d SPTE changes of the trace were made outside any fault or operation and were "
                    + "not compared%n", unattributed);
        long overlapped = differences.stream().filter(d -> d.step().overlapped).count();
        double seconds = nanos / 1e9;
        out.printf(Locale.ROOT, "replayed %s in %.3f s (%,.0f steps/s): %s%s%n", plural(steps, "step", "steps"),
                seconds, seconds > 0 ? steps / seconds : 0.0, differences.isEmpty() ? "no differences"
                        : plural(differences.size(), "step differs", "steps differ") + ", the first at line "
                                + differences.get(0).step().line,
                overlapped > 0 ? String.format(Locale.ROOT, " (%,d of them overlapped another thread's step in the "
                        + "trace, so their outcome may depend on timing)", overlapped) : "");
    }

    private static String plural(long n, String one, String many) {
        return String.format(Locale.ROOT, "%,d %s", n, n == 1 ? one : many);
    }

    private void print(PrintStream out, Difference d) {
        Step s = d.step();
        out.printf("line %d: VM %s: %s%s%n", s.line, s.vm, s.describe(), s.overlapped ? "  [overlapped]" : "");
        if (d.resultDiffers())
            out.printf("    result: trace %s, replay %s%n", or(d.traceResult(), s), or(d.replayResult(), s));
        list(out, "-", d.traceOnly(), "only in the trace");
        list(out, "+", d.replayOnly(), "only in the replay");
    }

    private static String or(String result, Step s) {
        return result != null ? result : s.kind == Step.Kind.FAULT ? "-" : "ok";
    }

    private static void list(PrintStream out, String sign, List<Object> changes, String what) {
        for (int i = 0; i < changes.size() && i < CHANGES_SHOWN; i++)
            out.printf("    %s %s%s%n", sign, changes.get(i), i == 0 ? "   (" + what + ")" : "");
        if (changes.size() > CHANGES_SHOWN)
            out.printf("    %s … %d more%n", sign, changes.size() - CHANGES_SHOWN);
    }
}
