package org.tdplab.backend.snp.kvm;

import java.util.ArrayList;
import java.util.List;

/**
 * What the kernel only WARNs about (an RMP fault it cannot explain, a failed RMPUPDATE): kept, bounded, so the
 * invariant check reports it.
 */
final class Anomalies {
    private static final int KEEP = 32;
    private final List<String> lines = new ArrayList<>();
    private long dropped;

    synchronized void add(String line) {
        if (lines.size() < KEEP)
            lines.add(line);
        else
            dropped++;
    }

    synchronized List<String> kept() {
        return List.copyOf(lines);
    }

    synchronized long dropped() {
        return dropped;
    }

    synchronized void restore(List<String> kept, long droppedBefore) {
        lines.addAll(kept);
        dropped = droppedBefore;
    }

    synchronized List<String> lines() {
        List<String> out = new ArrayList<>(lines);
        if (dropped > 0)
            out.add("… and " + dropped + " more");
        return out;
    }
}
