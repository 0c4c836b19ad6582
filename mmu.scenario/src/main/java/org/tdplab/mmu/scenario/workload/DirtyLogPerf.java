package org.tdplab.mmu.scenario.workload;

import java.util.Set;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.scenario.run.Progress;

/**
 * {@code dirty_log_perf_test} (with {@code dirty_log_test}'s check): populate, enable dirty logging on memslot
 * {@code slot=ID} (default 0; {@code eager_split=on|off}, {@code initially_set=on|off}, {@code manual_protect=on|off}),
 * then {@code iterations=N} rounds of dirtying memory, getting the log and clearing it, then disable. Every page a
 * vCPU wrote in a round must be in that round's log (no false negatives), or the run fails with EIO.
 *
 * <p>The selftest logs a memslot of its own; here the slot is the VMM's, so one that logs already is left as found:
 * logging stays on, with the options it was enabled with (the three above are then refused), and only the dirty-log
 * rounds are timed.
 */
final class DirtyLogPerf implements Workloads.Workload {
    @Override
    public Set<String> options() {
        return Set.of("iterations", "eager_split", "initially_set", "manual_protect");
    }

    @Override
    public void run(Context c) {
        int iterations = c.options.count("iterations", 2, 1000);
        int slot = (int) c.options.number("slot", 0);
        Workloads.Slot s = c.slots.apply(slot);
        if (c.gpa < s.gpa() || c.gpa + c.size > s.gpa() + s.size())
            throw new MmuException(Errno.EINVAL, "run dirty_log: the range is not inside memslot %d", slot);
        // KVM_CLEAR_DIRTY_LOG clears 64-page words: the rounds' clears need the range on them
        long first = (c.gpa - s.gpa()) / Context.PAGE, pages = c.size / Context.PAGE;
        if (first % 64 != 0 || pages % 64 != 0 && c.gpa + c.size != s.gpa() + s.size())
            throw new MmuException(Errno.EINVAL, "run dirty_log: gpa=0x%x size=0x%x: the range must start a multiple "
                    + "of 64 pages (256K) into memslot %d and be a multiple of 64 pages long or end with the slot, as "
                    + "KVM_CLEAR_DIRTY_LOG clears 64-page words", c.gpa, c.size, slot);
        boolean ours = !s.dirtyLogging();
        if (!ours)
            for (String k : new String[] { "eager_split", "initially_set", "manual_protect" })
                if (c.options.has(k))
                    throw new MmuException(Errno.EINVAL, "run dirty_log: %s=: memslot %d logs dirty pages already, "
                            + "with the options it was enabled with ('slot.log VM %d off' first to choose them)", k,
                            slot, slot);
        boolean initiallySet = c.options.on("initially_set", false);
        DirtyLogOptions opts = new DirtyLogOptions(c.options.on("eager_split", true), initiallySet,
                c.options.on("manual_protect", initiallySet));
        c.acceptAll("accept");
        c.report.time("Populate memory",
                Vcpus.run("populate", c.vcpus, v -> c.touch(v, Access.WRITE, 0, 1)).wallNanos());
        long t0;
        if (ours) {
            Progress.phase("enable dirty logging");
            t0 = System.nanoTime();
            c.vm.setDirtyLogging(slot, true, opts);
            c.report.time("Enabling dirty logging", System.nanoTime() - t0);
        } else {
            c.report.line("Dirty logging: memslot %d logs already; left as found", slot);
            // the populate pass's writes are logged already: collect them, as enabling would have started clean
            c.vm.getDirtyLog(slot);
            c.vm.clearDirtyLog(slot, c.gpa, c.size);
        }
        long[] totals;
        boolean done = false;
        try {
            totals = rounds(c, slot, s.gpa(), iterations);
            // dirty_log_test's other half: a page nobody wrote since the last collection must not be reported (a
            // stale bit that GET or CLEAR failed to clear); every vCPU is stopped, so one more GET finds none
            staleCheck(c, s.gpa(), c.vm.getDirtyLog(slot));
            done = true;
        } finally {
            if (ours && !done) // the run turned logging on and failed: off again, so the slot is as it was
                disableAfterFailure(c, slot, opts);
        }
        if (ours) {
            Progress.phase("disable dirty logging");
            t0 = System.nanoTime();
            c.vm.setDirtyLogging(slot, false, opts);
            c.report.time("Disabling dirty logging", System.nanoTime() - t0);
        }
        c.report.line("Get dirty log over %d iterations took %s. (Avg %s/iteration)", iterations,
                Report.seconds(totals[0]), Report.seconds(totals[0] / iterations));
        c.report.line("Clear dirty log over %d iterations took %s. (Avg %s/iteration)", iterations,
                Report.seconds(totals[1]), Report.seconds(totals[1] / iterations));
    }

    /** The dirty / get / clear rounds, each checked; the get and clear nanoseconds, summed. */
    private static long[] rounds(Context c, int slot, long slotBase, int iterations) {
        long getTotal = 0, clearTotal = 0, t0;
        for (int i = 1; i <= iterations; i++) {
            long token = i + 1;
            int pass = i;
            Vcpus.Phase p = Vcpus.run("dirty-" + i, c.vcpus, v -> c.touch(v, Access.WRITE, pass, token));
            c.report.time("Iteration " + i + " dirty memory", p.wallNanos());
            Progress.phase("iteration " + i + ": get and clear dirty log");
            t0 = System.nanoTime();
            long[] bitmap = c.vm.getDirtyLog(slot);
            long get = System.nanoTime() - t0;
            getTotal += get;
            long dirty = check(c, slotBase, bitmap, i);
            c.report.line("Iteration %d get dirty log time: %s (%d dirty pages)", i, Report.seconds(get), dirty);
            t0 = System.nanoTime();
            c.vm.clearDirtyLog(slot, c.gpa, c.size);
            long clear = System.nanoTime() - t0;
            clearTotal += clear;
            c.report.time("Iteration " + i + " clear dirty log", clear);
        }
        return new long[] { getTotal, clearTotal };
    }

    /** Logging off after a failed run; the run's own error is what its caller sees, so this one's is dropped. */
    private static void disableAfterFailure(Context c, int slot, DirtyLogOptions opts) {
        try {
            c.vm.setDirtyLogging(slot, false, opts);
        } catch (MmuException e) {
            // a VM that can no longer turn logging off is dead: its slots log nothing either
        }
    }

    private static boolean logged(long[] bitmap, long page) {
        return (int) (page >>> 6) < bitmap.length && (bitmap[(int) (page >>> 6)] & (1L << (page & 63))) != 0;
    }

    private static void staleCheck(Context c, long slotBase, long[] bitmap) {
        for (int v = 0; v < c.vcpus; v++) {
            long first = (c.base(v) - slotBase) / Context.PAGE;
            for (long p = first; p < first + c.pages(); p++)
                if (logged(bitmap, p))
                    throw new MmuException(Errno.EIO, "run dirty_log: page 0x%x is in the dirty log though nothing "
                            + "wrote it since the last collection (a stale bit)", slotBase + p * Context.PAGE);
        }
    }

    /** Every page of the range must be dirty after a round in which every vCPU wrote its whole partition. */
    private static long check(Context c, long slotBase, long[] bitmap, int iteration) {
        long dirty = 0;
        for (int v = 0; v < c.vcpus; v++) {
            long first = (c.base(v) - slotBase) / Context.PAGE;
            for (long p = first; p < first + c.pages(); p++) {
                if (!logged(bitmap, p))
                    throw new MmuException(Errno.EIO, "run dirty_log: iteration %d: page 0x%x was written but is "
                            + "not in the dirty log (a false negative)", iteration, slotBase + p * Context.PAGE);
            }
        }
        for (long w : bitmap)
            dirty += Long.bitCount(w);
        return dirty;
    }
}
