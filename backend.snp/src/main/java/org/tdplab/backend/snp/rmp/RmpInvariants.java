package org.tdplab.backend.snp.rmp;

import static org.tdplab.backend.snp.rmp.RmpEntry.ASSIGNED;
import static org.tdplab.backend.snp.rmp.RmpEntry.GPA_MASK;
import static org.tdplab.backend.snp.rmp.RmpEntry.IMMUTABLE;
import static org.tdplab.backend.snp.rmp.RmpEntry.MAX_ASID;
import static org.tdplab.backend.snp.rmp.RmpEntry.PAGE_SIZE;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_ALL;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_R;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_W;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_XS;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_XU;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;
import static org.tdplab.backend.snp.rmp.RmpEntry.VALIDATED;
import static org.tdplab.backend.snp.rmp.RmpEntry.VMPLS;
import static org.tdplab.backend.snp.rmp.RmpEntry.VMSA;
import static org.tdplab.backend.snp.rmp.RmpEntry.asid;
import static org.tdplab.backend.snp.rmp.RmpEntry.assigned;
import static org.tdplab.backend.snp.rmp.RmpEntry.gpa;
import static org.tdplab.backend.snp.rmp.RmpEntry.immutable;
import static org.tdplab.backend.snp.rmp.RmpEntry.is2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.validated;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

/** The RMP's own invariants over every entry (the hardware spec's R1, R2, R4, R8). */
final class RmpInvariants {
    private final Rmp rmp;

    RmpInvariants(Rmp rmp) {
        this.rmp = rmp;
    }

    // ---- invariants ------------------------------------------------------------------------------------------

    /**
     * The RMP's own invariants over every entry (the hardware spec's R1, R2, R4, R8), one line per violation. A VM's
     * check holds its MMU lock, but RMPUPDATE and PVALIDATE run without it (a fault's guest_memfd preparation, the
     * guest's own instructions) and the host's other VMs share the table: a scan beside them may see an instruction
     * half done (its entry written, its count or digest not yet). So a scan that finds something is done again with
     * every region lock held (in stripe order; an instruction holds one at a time), and that one is the answer; the
     * first scan runs without them, as almost every check finds nothing.
     */
    List<String> check() {
        List<String> out = scan();
        if (out.isEmpty())
            return out;
        int held = 0;
        try {
            for (; held < Rmp.STRIPES; held++)
                rmp.stripes.lock(held);
            return scan();
        } finally {
            while (held > 0)
                rmp.stripes.unlock(--held);
        }
    }

    private List<String> scan() {
        List<String> out = new ArrayList<>();
        long[] perAsid = new long[MAX_ASID + 1];
        long sum = 0;
        for (int ri = 0; ri < rmp.regions.length(); ri++) {
            RmpRegion r = rmp.regions.get(ri);
            if (r == null)
                continue;
            long head = (long) ri * Rmp.PAGES;
            long h = r.lo(0);
            boolean big = assigned(h) && is2M(h);
            for (int i = 0; i < Rmp.PAGES; i++) {
                long pfn = head + i, lo = r.lo(i), hi = r.hi(i);
                sum ^= Rmp.mix(pfn, lo, hi);
                if (lo == 0 && hi == 0)
                    continue;
                List<String> broken = broken(i, big, lo, hi, r.writer(i));
                if (!broken.isEmpty()) // no iterator per entry: most break no rule
                    for (String rule : broken) // an entry is described only when it breaks a rule
                        out.add(String.format("rmp: pfn 0x%x (%s): %s", pfn, RmpEntry.describe(lo, hi), rule));
                if (assigned(lo))
                    perAsid[asid(lo)] += is2M(lo) ? Rmp.PAGES : 1;
            }
        }
        if (sum != rmp.digest())
            out.add("rmp: R8: the table changed outside RMPUPDATE/PSMASH/PVALIDATE/RMPADJUST/the firmware");
        long[] counted = rmp.assignedCounts.assignedPerAsid();
        for (int a = 0; a <= MAX_ASID; a++)
            if (perAsid[a] != counted[a])
                out.add(String.format("rmp: ASID %d owns %d frames, the count says %d", a, perAsid[a], counted[a]));
        return out;
    }

    /** The rules entry {@code i} of a region breaks, one line each; empty (and nothing allocated) when none. */
    private static List<String> broken(int i, boolean big, long lo, long hi, byte writer) {
        List<String> out = List.of();
        if (!assigned(lo) && (asid(lo) != 0 || validated(lo) || gpa(lo) != 0 || immutable(lo) || hi != 0
                || (lo & VMSA) != 0))
            out = and(out, "R1: a hypervisor-owned entry has guest state");
        if (is2M(lo) && i != 0)
            out = and(out, "R2: a 2M entry off a 2M boundary");
        if (big && i != 0)
            out = and(out, "R2: an entry inside an assigned 2M page is set");
        if (writer == Rmp.BY_RMPUPDATE && (validated(lo) || (lo & VMSA) != 0))
            out = and(out, "R4: Validated or VMSA survived RMPUPDATE");
        if (validated(lo) && writer != Rmp.BY_PVALIDATE && writer != Rmp.BY_FIRMWARE && writer != Rmp.BY_PSMASH
                && writer != Rmp.BY_RMPADJUST)
            out = and(out, "R4: Validated not set by PVALIDATE or the firmware");
        return out;
    }

    private static List<String> and(List<String> rules, String rule) {
        List<String> out = new ArrayList<>(rules);
        out.add(rule);
        return out;
    }
}
