package org.tdplab.mmu.scenario.workload;

import java.util.Set;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Vm;

/**
 * {@code access_tracking_perf_test}: populate, write and read populated memory, mark it idle (MMU-notifier age over
 * each vCPU's partition), then write to / read from idle memory, {@code iterations=N} times; reports how many pages
 * were still idle when marked again (aging must neither unmap nor lose accessed state).
 */
final class AccessTracking implements Workloads.Workload {
    @Override
    public Set<String> options() {
        return Set.of("iterations");
    }

    @Override
    public void run(Context c) {
        int iterations = c.options.count("iterations", 1, 1000);
        c.acceptAll("accept");
        c.report.time("Populating memory",
                Vcpus.run("populate", c.vcpus, v -> c.touch(v, Access.WRITE, 0, Vm.DEFAULT_TOKEN)).wallNanos());
        c.report.time("Writing to populated memory",
                Vcpus.run("write", c.vcpus, v -> c.touch(v, Access.WRITE, 1, Vm.DEFAULT_TOKEN)).wallNanos());
        c.report.time("Reading from populated memory",
                Vcpus.run("read", c.vcpus, v -> c.touch(v, Access.READ, 2, 0)).wallNanos());
        for (int i = 1; i <= iterations; i++) {
            markIdle(c, i);
            Access access = i % 2 == 1 ? Access.WRITE : Access.READ;
            int pass = 2 + i;
            Vcpus.Phase p = Vcpus.run("idle-" + i, c.vcpus, v -> c.touch(v, access, pass, Vm.DEFAULT_TOKEN));
            c.report.time("Iteration " + i + " " + (access == Access.WRITE ? "writing to" : "reading from")
                    + " idle memory", p.wallNanos());
        }
        long young = c.vm.testAge(c.gpa, c.size);
        c.report.line("Young pages after the last pass: %d of %d", young, c.size / Context.PAGE);
    }

    private static void markIdle(Context c, int iteration) {
        long t0 = System.nanoTime();
        long young = 0;
        for (int v = 0; v < c.vcpus; v++)
            young += c.vm.age(c.base(v), c.pages() * Context.PAGE);
        c.report.time("Iteration " + iteration + " mark memory idle", System.nanoTime() - t0);
        c.report.line("Iteration %d: %d pages were young", iteration, young);
    }
}
