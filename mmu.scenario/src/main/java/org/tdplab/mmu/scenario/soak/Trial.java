package org.tdplab.mmu.scenario.soak;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Text;

/**
 * Runs a sequence of operations on a fresh VM, one at a time on this thread, with the invariant checker (which
 * holds the data oracle's findings too) after every step: the verdict a property asserts, and what a soak's
 * failure is shrunk against. {@link Verdict#scenario} writes the sequence as a scenario file that runs the same
 * calls, with each outcome the run saw as an {@code expect} line.
 */
public final class Trial {
    private static final AtomicLong NAMES = new AtomicLong();

    private Trial() {
    }

    /** The result: the first failing step (-1: none), what failed, and each step's outcome up to it. */
    public record Verdict(Layout layout, List<Op> ops, int failedAt, List<String> problems, List<Op.Outcome> outcomes,
            long sharedMask) {
        public boolean failed() {
            return failedAt >= 0;
        }

        /** The sequence up to the failing step as a scenario file, run with {@code ./tdplab run --checked}. */
        public String scenario(String header) {
            StringBuilder s = new StringBuilder();
            header.lines().forEach(l -> s.append("# ").append(l).append('\n'));
            problems.forEach(p -> s.append("#   ").append(p.replace('\n', ' ')).append('\n'));
            layout.prelude("vm").forEach(l -> s.append(l).append('\n'));
            for (int i = 0; i < outcomes.size(); i++)
                s.append(ops.get(i).statement("vm", layout.type(), layout, outcomes.get(i), sharedMask)).append('\n');
            s.append("check vm\n");
            return s.toString();
        }
    }

    /** Runs {@code ops} on a new VM of {@code layout}'s type and checks after each step. */
    public static Verdict run(VmManager manager, Layout layout, List<Op> ops) {
        Vm vm = layout.create(manager, "trial-" + NAMES.incrementAndGet());
        int bit = vm.capabilities().sharedBit();
        long mask = bit < 0 ? 0 : 1L << bit;
        List<Op.Outcome> outcomes = new ArrayList<>();
        try {
            for (int i = 0; i < ops.size(); i++) {
                Op.Outcome o;
                try {
                    o = ops.get(i).apply(vm, layout);
                } catch (RuntimeException | AssertionError e) {
                    outcomes.add(Op.Outcome.OK);
                    return new Verdict(layout, ops, i, List.of(Text.internalError(e)), outcomes, mask);
                }
                outcomes.add(o);
                List<String> violations = vm.check().violations();
                if (!violations.isEmpty())
                    return new Verdict(layout, ops, i, violations, outcomes, mask);
            }
            return new Verdict(layout, ops, -1, List.of(), outcomes, mask);
        } finally {
            try {
                vm.destroy();
            } catch (RuntimeException e) {
                // a teardown problem of a VM whose verdict is in; the checker's findings are what counts
            }
        }
    }

    /**
     * Shrinks a failing sequence: drops chunks of operations, halving the chunk down to single operations, again
     * until nothing more can go (so dropping any one operation of the result makes it pass, budget allowing), then
     * makes the remaining ones one page, keeping each change that still fails; at most {@code budget} trials.
     */
    public static Verdict shrink(VmManager manager, Verdict failing, int budget) {
        Verdict best = failing;
        List<Op> ops = new ArrayList<>(failing.ops().subList(0, failing.failedAt() + 1));
        Verdict cut = run(manager, failing.layout(), ops);
        if (cut.failed())
            best = cut;
        int trials = 1;
        boolean progress = true;
        while (progress && trials < budget) {
            progress = false;
            for (int chunk = Math.max(1, (best.failedAt() + 1) / 2); chunk >= 1 && trials < budget; chunk /= 2) {
                for (int from = best.failedAt() + 1 - chunk; from >= 0 && trials < budget; from -= chunk) {
                    List<Op> current = best.ops().subList(0, best.failedAt() + 1);
                    if (from + chunk > current.size())
                        continue;
                    List<Op> fewer = new ArrayList<>(current.subList(0, from));
                    fewer.addAll(current.subList(from + chunk, current.size()));
                    if (fewer.isEmpty())
                        continue;
                    Verdict v = run(manager, failing.layout(), fewer);
                    trials++;
                    if (v.failed()) {
                        best = v;
                        progress = true;
                    }
                }
            }
        }
        // then smaller sizes, one operation at a time
        for (int i = 0; i <= best.failedAt() && trials < budget; i++) {
            Op op = best.ops().get(i);
            if (op.size() <= Layout.K4)
                continue;
            List<Op> smaller = new ArrayList<>(best.ops().subList(0, best.failedAt() + 1));
            smaller.set(i, new Op(op.kind(), op.vcpu(), op.gpa(), Layout.K4, op.arg()));
            Verdict v = run(manager, failing.layout(), smaller);
            trials++;
            if (v.failed())
                best = v;
        }
        return best;
    }
}
