package org.tdplab.mmu.scenario.workload;

import java.util.Map;
import java.util.TreeMap;

/**
 * The counters a workload reports, as deltas of {@code Vm.stats()}: faults, retries, TLB flushes, and firmware
 * calls (the counters the VM names as firmware calls, {@code Vm.firmwareCalls()}, whatever their spelling), by kind.
 */
record Counters(long faults, long fixed, long retries, long flushes, long firmware, Map<String, Long> byKind) {
    static Counters delta(Map<String, Long> before, Map<String, Long> after, java.util.Set<String> firmwareCalls) {
        Map<String, Long> kinds = new TreeMap<>();
        long fw = 0;
        for (Map.Entry<String, Long> e : after.entrySet()) {
            String k = e.getKey();
            if (!firmwareCalls.contains(k))
                continue;
            long d = e.getValue() - before.getOrDefault(k, 0L);
            if (d != 0) {
                kinds.put(k, d);
                fw += d;
            }
        }
        return new Counters(d(before, after, "pf_taken"), d(before, after, "pf_fixed"), d(before, after, "pf_retry"),
                d(before, after, "remote_tlb_flush"), fw, kinds);
    }

    private static long d(Map<String, Long> before, Map<String, Long> after, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }

    /**
     * The firmware calls scaled to one GiB of the workload's range ({@code bytes}): what booting a guest of that
     * size costs in calls, e.g. a TD's SEAMCALLs per GiB at 4K and at 2M private pages.
     */
    String perGiB(long bytes) {
        double scale = (double) (1L << 30) / Math.max(1, bytes);
        StringBuilder sb = new StringBuilder().append("Per GiB: firmware calls ").append(Math.round(firmware * scale));
        if (!byKind.isEmpty()) {
            sb.append(" (");
            String sep = "";
            for (Map.Entry<String, Long> e : byKind.entrySet()) {
                sb.append(sep).append(e.getKey()).append(' ').append(Math.round(e.getValue() * scale));
                sep = ", ";
            }
            sb.append(')');
        }
        return sb.toString();
    }

    String line() {
        StringBuilder sb = new StringBuilder().append("faults ").append(faults).append(" (fixed ").append(fixed)
                .append("), retries ").append(retries).append(", remote TLB flushes ").append(flushes)
                .append(", firmware calls ").append(firmware);
        if (!byKind.isEmpty()) {
            sb.append(" (");
            String sep = "";
            for (Map.Entry<String, Long> e : byKind.entrySet()) {
                sb.append(sep).append(e.getKey()).append(' ').append(e.getValue());
                sep = ", ";
            }
            sb.append(')');
        }
        return sb.toString();
    }
}
