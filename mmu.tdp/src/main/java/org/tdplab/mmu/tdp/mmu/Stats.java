package org.tdplab.mmu.tdp.mmu;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The core's counters for one VM: a {@link LongAdder} per {@link Stat}, so vCPU threads faulting at once do not
 * fight over one cache line per fault (an adder spreads contended increments over cells).
 */
public final class Stats {
    private final LongAdder[] counts = new LongAdder[Stat.values().length];

    public Stats() {
        for (int i = 0; i < counts.length; i++)
            counts[i] = new LongAdder();
    }

    public void inc(Stat stat) {
        counts[stat.ordinal()].increment();
    }

    public void add(Stat stat, long delta) {
        counts[stat.ordinal()].add(delta);
    }

    public long get(Stat stat) {
        return counts[stat.ordinal()].sum();
    }

    public Map<String, Long> snapshot() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Stat s : Stat.values())
            out.put(s.kernelName, get(s));
        return out;
    }
}
