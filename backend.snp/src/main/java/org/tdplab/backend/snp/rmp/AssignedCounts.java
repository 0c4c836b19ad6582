package org.tdplab.backend.snp.rmp;

import static org.tdplab.backend.snp.rmp.RmpEntry.MAX_ASID;
import static org.tdplab.backend.snp.rmp.RmpEntry.asid;
import static org.tdplab.backend.snp.rmp.RmpEntry.assigned;
import static org.tdplab.backend.snp.rmp.RmpEntry.is2M;

import org.tdplab.percpu.PercpuCounters;

/**
 * The {@link Rmp}'s count of assigned 4K frames per ASID (a 2M entry counts 512), kept as the instructions write
 * entries: in the words of the stripes' lines ({@link StripeLocks#addAssigned}), and per thread for what those cannot
 * count.
 */
final class AssignedCounts {
    private final StripeLocks stripes;
    /**
     * Assigned 4K frames per ASID (a 2M entry counts 512) that the stripes' lines cannot count
     * ({@link StripeLocks#addAssigned}: more ASIDs in a stripe than its line has words), counted per thread.
     */
    final PercpuCounters assignedOverflow = new PercpuCounters(16);

    AssignedCounts(StripeLocks stripes) {
        this.stripes = stripes;
    }

    /** Assigned 4K frames of an ASID. */
    long assignedPages(int asid) {
        return stripes.assigned(asid) + assignedOverflow.sum(asid);
    }

    /** Assigned 4K frames of every owner (guests and the AMD-SP). */
    long assignedPages() {
        long n = 0;
        for (long perAsid : assignedPerAsid())
            n += perAsid;
        return n;
    }

    /** Assigned 4K frames per ASID, indexed by ASID. */
    long[] assignedPerAsid() {
        long[] perAsid = assignedOverflow.sums(MAX_ASID + 1);
        stripes.addAssignedInto(perAsid);
        return perAsid;
    }

    /**
     * Counts an entry's frames as its ASID's ({@code sign} +1) or not ({@code -1}); the caller holds {@code stripe}.
     */
    void account(int stripe, long lo, int sign) {
        if (!assigned(lo))
            return;
        long delta = sign * (is2M(lo) ? Rmp.PAGES : 1L);
        if (!stripes.addAssigned(stripe, asid(lo), delta))
            assignedOverflow.add(asid(lo), delta);
    }
}
