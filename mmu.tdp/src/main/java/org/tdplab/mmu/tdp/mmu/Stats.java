package org.tdplab.mmu.tdp.mmu;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/** The core's counters for one VM: one atomic slot per {@link Stat}, padded apart to limit false sharing. */
public final class Stats {
    private static final int STRIDE = 8;
    private final AtomicLongArray counts = new AtomicLongArray(Stat.values().length * STRIDE);

    public void inc(Stat stat) {
        counts.getAndIncrement(stat.ordinal() * STRIDE);
    }

    public void add(Stat stat, long delta) {
        counts.getAndAdd(stat.ordinal() * STRIDE, delta);
    }

    public long get(Stat stat) {
        return counts.get(stat.ordinal() * STRIDE);
    }

    public Map<String, Long> snapshot() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Stat s : Stat.values())
            out.put(s.kernelName, get(s));
        return out;
    }
}
