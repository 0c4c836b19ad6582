package org.tdplab.mmu.scenario.workload;

import java.util.Locale;
import java.util.Map;

/**
 * "Projected hardware time": the run's counted work priced with latency anchors, spread evenly over the vCPUs (a
 * virtual clock per vCPU, assuming balanced partitions), without sleeping. Only priced work counts; everything else
 * is free, so the projection is a lower bound.
 *
 * <ul>
 * <li>a fault that maps a page ({@code pf_fixed}): 3 µs — {@code access_tracking_perf_test} populating 1 GiB
 *     (262,144 pages) in 0.80 s ({@code perf-anchors-and-peers.md} §1a row 13);</li>
 * <li>firmware calls (SEAMCALL leaves, RMP instructions, SNP commands): the VM's {@code projected_firmware_ns}, each
 *     call priced with the latency table its backend's configuration gave the VM when it was created. With the TDX
 *     defaults a lazily accepted private TD page costs 3 µs + {@code TDH.MEM.PAGE.AUG} 4 µs + 2 ×
 *     {@code TDG.MEM.PAGE.ACCEPT} 0.5 µs, the ~8 µs end-to-end anchor (§1b.2).</li>
 * </ul>
 */
record Projection(long faults, long firmwareNanos, int vcpus) {
    static final long FAULT_NS = 3_000;

    static Projection of(Map<String, Long> before, Map<String, Long> after, int vcpus) {
        return new Projection(delta(before, after, "pf_fixed"), delta(before, after, "projected_firmware_ns"), vcpus);
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String key) {
        return Math.max(0, after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L));
    }

    long nanosPerVcpu() {
        return (faults * FAULT_NS + firmwareNanos) / Math.max(1, vcpus);
    }

    /** The projected time of all vCPUs together, scaled to one GiB of the workload's range ({@code bytes}). */
    String perGiB(long bytes) {
        double scale = (double) (1L << 30) / Math.max(1, bytes);
        return String.format(Locale.ROOT, "Per GiB: projected hardware time %s (faults %s + firmware %s, all vCPUs "
                + "together)", Report.seconds(Math.round((faults * FAULT_NS + firmwareNanos) * scale)),
                Report.seconds(Math.round(faults * FAULT_NS * scale)),
                Report.seconds(Math.round(firmwareNanos * scale)));
    }

    String line() {
        return String.format(Locale.ROOT, "Projected hardware time: %s per vCPU (%d faults x 3 us + firmware %s "
                + "from the backend's latency table, over %d vCPUs; unanchored work not counted)",
                Report.seconds(nanosPerVcpu()), faults, Report.seconds(firmwareNanos), vcpus);
    }
}
