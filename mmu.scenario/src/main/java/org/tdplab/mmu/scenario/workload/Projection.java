package org.tdplab.mmu.scenario.workload;

import java.util.Locale;
import java.util.Map;

/**
 * "Projected hardware time": the run's counted work priced with the latency anchors of
 * {@code perf-anchors-and-peers.md} §1b, spread evenly over the vCPUs (a virtual clock per vCPU, assuming balanced
 * partitions), without sleeping. Only anchored work is priced; everything else counts as free, so the projection is
 * a lower bound.
 *
 * <ul>
 * <li>an ordinary fault that maps a page ({@code pf_fixed}): 3 µs — {@code access_tracking_perf_test} populating
 *     1 GiB (262,144 pages) in 0.80 s;</li>
 * <li>a private fault in a TD ({@code TDH.MEM.PAGE.AUG}): 8 µs end to end (TD exit, AUG, accept), instead of the
 *     ordinary fault cost.</li>
 * </ul>
 */
record Projection(long faults, long privateFaults, int vcpus) {
    static final long FAULT_NS = 3_000, PRIVATE_FAULT_NS = 8_000;

    static Projection of(Map<String, Long> before, Map<String, Long> after, int vcpus) {
        long fixed = delta(before, after, "pf_fixed"), aug = delta(before, after, "TDH.MEM.PAGE.AUG");
        long priv = Math.min(aug, fixed);
        return new Projection(fixed - priv, priv, vcpus);
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String key) {
        return Math.max(0, after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L));
    }

    long nanosPerVcpu() {
        return (faults * FAULT_NS + privateFaults * PRIVATE_FAULT_NS) / Math.max(1, vcpus);
    }

    String line() {
        return String.format(Locale.ROOT, "Projected hardware time: %s per vCPU (%d faults x 3 us, %d private TD "
                + "faults x 8 us, over %d vCPUs; unanchored work not counted)", Report.seconds(nanosPerVcpu()), faults,
                privateFaults, vcpus);
    }
}
