package org.tdplab.mmu.scenario.workload;

import java.util.Set;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;

/**
 * {@code access_tracking_perf_test}: populate, write and read populated memory, then {@code iterations=N} times
 * (default 2, the selftest's) mark it idle (MMU-notifier age over each vCPU's partition; with {@code overlap=on}
 * vCPU 0 marks the range) and write to (odd iterations) or read from (even) idle memory.
 *
 * <p>Each marking after the first checks what the selftest checks: fewer than a tenth of a vCPU's pages may still be
 * idle, that is, untouched by the accesses since the last marking; else the run fails with EIO, or with
 * {@code warn_only=on} (the selftest's {@code -w 1}) prints its warning. (The selftest's first marking finds no page
 * idle, none having been marked before; here a range aged earlier would, so the first is not checked.) As on
 * hardware, aging does not flush the TLB, so a page whose translation the vCPU still caches sets no accessed bit:
 * by default the check fails the run only where the TLB ({@link Vm#VCPU_TLB_ENTRIES}) cannot explain it, above ten
 * times its entries a vCPU, and warns below. Private memory behind mirror page tables (a TD's), which MMU-notifier
 * aging does not reach (it ages shared mappings only), skips the check, as the selftest skips it where access
 * tracking is unreliable.
 */
final class AccessTracking implements Workloads.Workload {
    @Override
    public Set<String> options() {
        return Set.of("iterations", "warn_only");
    }

    @Override
    public void run(Context c) {
        int iterations = c.options.count("iterations", 2, 1000);
        // the check can fail only for a reason other than the TLB once the TLB holds under a tenth of the pages: by
        // default it fails the run from there on and warns below it (the selftest's -w decides, as here warn_only=)
        boolean warnOnly = c.options.on("warn_only", c.pages() <= 10L * Vm.VCPU_TLB_ENTRIES);
        c.acceptAll("accept");
        c.report.time("Populating memory",
                Vcpus.run("populate", c.vcpus, v -> c.touch(v, Access.WRITE, 0, Vm.DEFAULT_TOKEN)).wallNanos());
        c.report.time("Writing to populated memory",
                Vcpus.run("write", c.vcpus, v -> c.touch(v, Access.WRITE, 1, Vm.DEFAULT_TOKEN)).wallNanos());
        c.report.time("Reading from populated memory",
                Vcpus.run("read", c.vcpus, v -> c.touch(v, Access.READ, 2, 0)).wallNanos());
        boolean check = !(c.accept && c.vm.capabilities().mirroredPt());
        if (!check)
            c.report.line("Skipping idle page count sanity check: the range is private memory behind mirror page "
                    + "tables, which MMU-notifier aging does not reach");
        for (int i = 1; i <= iterations; i++) {
            long[] young = markIdle(c, i);
            if (check && i > 1)
                stillIdle(c, young, warnOnly);
            Access access = i % 2 == 1 ? Access.WRITE : Access.READ;
            int pass = 2 + i;
            Vcpus.Phase p = Vcpus.run("idle-" + i, c.vcpus, v -> c.touch(v, access, pass, Vm.DEFAULT_TOKEN));
            c.report.time("Iteration " + i + " " + (access == Access.WRITE ? "writing to" : "reading from")
                    + " idle memory", p.wallNanos());
        }
        long young = c.vm.testAge(c.gpa, c.size);
        c.report.line("Young pages after the last pass: %d of %d", young, c.size / Context.PAGE);
    }

    /** Ages each vCPU's partition (only vCPU 0's, the whole range, when they overlap); the young pages of each. */
    private static long[] markIdle(Context c, int iteration) {
        long t0 = System.nanoTime();
        long[] young = new long[c.overlap ? 1 : c.vcpus];
        for (int v = 0; v < young.length; v++)
            young[v] = c.vm.age(c.base(v), c.pages() * Context.PAGE);
        c.report.time("Iteration " + iteration + " mark memory idle", System.nanoTime() - t0);
        c.report.line("Iteration %d: %d pages were young", iteration, sum(young));
        return young;
    }

    /** The selftest's check: a vCPU's accesses since the last marking left fewer than a tenth of its pages idle. */
    private static void stillIdle(Context c, long[] young, boolean warnOnly) {
        long pages = c.pages();
        for (int v = 0; v < young.length; v++) {
            long still = pages - young[v];
            if (still == 0 || still < pages / 10) // none idle passes below ten pages too (the selftest's 0 >= 0 fails)
                continue;
            String who = c.overlap ? "" : "vCPU" + v + ": "; // the selftest names no vCPU for an overlapping range
            if (warnOnly)
                c.report.line("WARNING: %sToo many pages still idle (%d out of %d), this will affect performance "
                        + "results.", who, still, pages);
            else
                throw new MmuException(Errno.EIO, "run access_tracking: %stoo many pages still idle (%d out of %d): "
                        + "the accesses since the last marking set no accessed bit on them. Aging does not flush the "
                        + "TLB, so a page whose translation the vCPU still caches stays idle: give each vCPU more "
                        + "than ten times the pages its TLB holds, or warn_only=on (the selftest's -w 1)", who, still,
                        pages);
        }
    }

    private static long sum(long[] values) {
        long s = 0;
        for (long x : values)
            s += x;
        return s;
    }
}
