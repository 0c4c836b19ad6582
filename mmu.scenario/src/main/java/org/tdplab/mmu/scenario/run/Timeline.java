package org.tdplab.mmu.scenario.run;

/**
 * Faults and zaps over the time of one workload ({@code run}), in {@code bins} bins of {@code binNanos} each:
 * bounded whatever the workload's length (the bin width doubles when the bins run out).
 */
public record Timeline(int line, String source, String vm, long binNanos, long[] faults, long[] zaps) {
}
