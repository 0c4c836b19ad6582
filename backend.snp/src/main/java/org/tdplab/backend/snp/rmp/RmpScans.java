package org.tdplab.backend.snp.rmp;

import static org.tdplab.backend.snp.rmp.RmpEntry.asid;
import static org.tdplab.backend.snp.rmp.RmpEntry.assigned;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.LongConsumer;
import java.util.function.LongPredicate;

/**
 * The RMP's whole-table operations on {@link Rmp}'s storage: a VM's assigned entries, found by a scan of the regions
 * that hold any, and the hot swap's export and restore of the entries a VM depends on.
 */
final class RmpScans {
    private final Rmp rmp;

    RmpScans(Rmp rmp) {
        this.rmp = rmp;
    }

    /** Offers every frame of a region that holds an entry, in frame order, while {@code visitor} answers true. */
    private void scan(LongPredicate visitor) {
        for (int ri = 0; ri < rmp.regions.length(); ri++) {
            if (rmp.regions.get(ri) == null)
                continue;
            for (int i = 0; i < Rmp.PAGES; i++)
                if (!visitor.test((long) ri * Rmp.PAGES + i))
                    return;
        }
    }

    private boolean assignedTo(long pfn, int asid) {
        long e = rmp.lo(pfn);
        return assigned(e) && asid(e) == asid;
    }

    void forEachAssigned(int asid, LongConsumer visitor) {
        scan(pfn -> {
            if (assignedTo(pfn, asid))
                visitor.accept(pfn);
            return true;
        });
    }

    List<Long> assignedFrames(int asid, int limit) {
        List<Long> out = new ArrayList<>();
        if (limit > 0)
            scan(pfn -> {
                if (assignedTo(pfn, asid))
                    out.add(pfn);
                return out.size() < limit;
            });
        return out;
    }

    /** {pfn, lo, hi, writer} of every entry assigned to {@code asid} and of the {@code extra} frames. */
    long[] export(int asid, long... extra) {
        Set<Long> extras = new HashSet<>();
        for (long e : extra)
            extras.add(e);
        long[][] out = { new long[64] };
        int[] n = { 0 };
        scan(pfn -> {
            if (!assignedTo(pfn, asid) && !extras.contains(pfn))
                return true;
            RmpRegion r = rmp.regions.get((int) (pfn / Rmp.PAGES));
            int i = (int) (pfn % Rmp.PAGES);
            if (n[0] + 4 > out[0].length)
                out[0] = Arrays.copyOf(out[0], out[0].length * 2);
            long[] o = out[0];
            o[n[0]++] = pfn;
            o[n[0]++] = r.lo(i);
            o[n[0]++] = r.hi(i);
            o[n[0]++] = r.writer(i);
            return true;
        });
        return Arrays.copyOf(out[0], n[0]);
    }

    /** Writes back entries {@link #export} gave, each under its region's lock, keeping the per-ASID counts. */
    void restore(long[] entries) {
        for (int k = 0; k + 3 < entries.length; k += 4) {
            long pfn = entries[k];
            if (pfn < 0 || pfn >= rmp.frames)
                throw new IllegalArgumentException("RMP entry for frame 0x" + Long.toHexString(pfn)
                        + " outside the RMP");
            if ((entries[k + 1] & RmpRegion.MODEL_MASK) != 0 || (entries[k + 3] & ~7L) != 0)
                throw new IllegalArgumentException("RMP entry for frame 0x" + Long.toHexString(pfn)
                        + " sets reserved bits 7:3 of its low qword, or names no writer");
            int stripe = rmp.lock(pfn);
            try {
                rmp.assignedCounts.account(stripe, rmp.lo(pfn), -1);
                rmp.assignedCounts.account(stripe, entries[k + 1], +1);
                rmp.write(pfn, entries[k + 1], entries[k + 2], (byte) entries[k + 3]);
            } finally {
                rmp.stripes.unlock(stripe);
            }
        }
    }
}
