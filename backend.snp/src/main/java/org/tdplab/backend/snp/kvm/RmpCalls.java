package org.tdplab.backend.snp.kvm;

import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;

import org.tdplab.backend.snp.rmp.GuestResult;
import org.tdplab.backend.snp.rmp.Pferr;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.backend.snp.rmp.RmpCodes;
import org.tdplab.backend.snp.rmp.RmpEntry;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * One VM's executions of the RMP instructions, wrapped as Linux wraps them ({@code arch/x86/virt/svm/sev.c}) and
 * each recorded as a firmware call under the hardware's name ({@code VmContext.firmwareCall}): the core counts it
 * there, as the VM's counter of that name, and traces it.
 */
final class RmpCalls {
    static final String RMPUPDATE = "RMPUPDATE", PSMASH = "PSMASH", PVALIDATE = "PVALIDATE", RMPADJUST = "RMPADJUST";
    static final int LEVEL_4K = 1, LEVEL_2M = 2;

    private final VmContext ctx;
    private final Rmp rmp;
    private final RmpCodes codes;
    private final Anomalies anomalies;
    final int asid;

    RmpCalls(VmContext ctx, Rmp rmp, int asid, Anomalies anomalies) {
        this.ctx = ctx;
        this.rmp = rmp;
        this.codes = rmp.codes();
        this.asid = asid;
        this.anomalies = anomalies;
    }

    Rmp rmp() {
        return rmp;
    }

    /**
     * {@code rmpupdate()}: retried while {@code FAIL_OVERLAP}, which Linux takes for a concurrent update. An overlap
     * that is really there would make Linux spin forever; the model stops and reports it instead.
     */
    private int rmpupdate(long pfn, long gpa, boolean assigned, int size, boolean immutable, int owner,
            long traceGfn) {
        int rc = rmp.rmpupdate(pfn, gpa, assigned, size, immutable, owner);
        ctx.firmwareCall(RMPUPDATE, traceGfn, size == SIZE_2M ? LEVEL_2M : LEVEL_4K, codes.name(rc));
        // the retries apart: the first try is every private fault's (its call stays small enough to inline)
        return rc != codes.failOverlap() ? rc : retry(pfn, gpa, assigned, size, immutable, owner, traceGfn, rc);
    }

    /** {@link #rmpupdate} after a first try that failed with {@code FAIL_OVERLAP} ({@code rc}). */
    private int retry(long pfn, long gpa, boolean assigned, int size, boolean immutable, int owner, long traceGfn,
            int rc) {
        for (int tries = 0;; tries++) {
            if (tries > 0) {
                rc = rmp.rmpupdate(pfn, gpa, assigned, size, immutable, owner);
                ctx.firmwareCall(RMPUPDATE, traceGfn, size == SIZE_2M ? LEVEL_2M : LEVEL_4K, codes.name(rc));
                if (rc != codes.failOverlap())
                    return rc;
            }
            if (overlapsForReal(pfn, size)) {
                anomalies.add(String.format("RMPUPDATE of pfn 0x%x (%s) overlaps assigned entries: Linux would "
                        + "retry it forever", pfn, size == SIZE_2M ? "2M" : "4K"));
                return rc;
            }
            backOff(pfn, tries);
        }
    }

    /**
     * Whether a FAIL_OVERLAP is the entries' (an update no retry helps: a 4K one inside an assigned 2M page, a 2M
     * one over an assigned 4K head or tail entry), not another CPU's hold of the region. The 2M case reads the
     * region's own entries, as the instruction does: through a 2M entry (its authority) every page of the region
     * reads assigned, which made a 2M update of an assigned 2M page (an invalidation's) that met a busy region look
     * like a real overlap (soak --type snp, seeds 5124 and 6529).
     */
    private boolean overlapsForReal(long pfn, int size) {
        long head = pfn & ~511L;
        if (size == SIZE_4K)
            return rmp.privateLevel(head) == 2;
        long h = rmp.lo(head);
        if (RmpEntry.assigned(h) && !RmpEntry.is2M(h))
            return true;
        for (int i = 1; i < 512; i++)
            if (RmpEntry.assigned(rmp.lo(head + i)))
                return true;
        return false;
    }

    /** {@code rmp_make_private(pfn, gpa, level, asid, immutable)}; false on failure (Linux: -EFAULT, WARN). */
    boolean makePrivate(long pfn, long gpa, int level, boolean immutable) {
        return rmpupdate(pfn, gpa, true, level == LEVEL_2M ? SIZE_2M : SIZE_4K, immutable, asid,
                gpa >>> 12) == RmpCodes.SUCCESS;
    }

    /** {@code rmp_mark_pages_firmware}: a page for the AMD-SP (assigned, ASID 0, immutable). */
    boolean makeFirmware(long pfn) {
        return rmpupdate(pfn, 0, true, SIZE_4K, true, 0, -1) == RmpCodes.SUCCESS;
    }

    /** {@code rmp_make_shared(pfn, level)}: an all-zero state with that page size. */
    boolean makeShared(long pfn, int level) {
        long gfn = rmp.isAssigned(pfn) ? rmp.gpaOf(pfn) >>> 12 : -1;
        return rmpupdate(pfn, 0, false, level == LEVEL_2M ? SIZE_2M : SIZE_4K, false, 0, gfn) == RmpCodes.SUCCESS;
    }

    /** {@code snp_rmptable_psmash}: PSMASH of the 2M-aligned pfn, retried while another CPU uses the entry. */
    int psmash(long pfn) {
        long head = pfn & ~511L;
        long gfn = rmp.isAssigned(head) ? rmp.gpaOf(head) >>> 12 : -1;
        for (int tries = 0;; tries++) {
            int rc = rmp.psmash(head);
            ctx.firmwareCall(PSMASH, gfn, LEVEL_2M, codes.name(rc));
            if (rc != codes.failInuse())
                return rc;
            backOff(pfn, tries);
        }
    }

    /**
     * Whether the 2M entry of {@code pfn} is split already, by another CPU's PSMASH: a vCPU's RMP fault
     * ({@code sev_handle_rmp_fault}) and a guest_memfd invalidation ({@code sev_gmem_invalidate}) both PSMASH with
     * no common lock, so one can split the entry between the other's look at its level and its own PSMASH, which
     * then fails (a Fray test and {@code soak --type snp} found it). The 4K work that follows is what was needed:
     * the kernel's fault handler looks again the same way; its invalidation prints its "Failed to PSMASH" error
     * there (with 2M guest_memfd folios, which mainline does not have yet), which the model does not report.
     */
    boolean splitAlready(long pfn) {
        return rmp.isAssigned(pfn) && rmp.privateLevel(pfn) == 1;
    }

    /**
     * Between two tries of an instruction another CPU holds up: a spin, and every 64th time a wait for the CPU
     * executing an instruction on that 2M region to finish — what the spin waits for, said so that a scheduler
     * that controls the threads (Fray) runs that CPU instead of the spinning one.
     */
    private void backOff(long pfn, int tries) {
        if ((tries & 63) == 63)
            rmp.awaitRegion(pfn);
        else
            Thread.onSpinWait();
    }

    /** The guest's PVALIDATE of the page at {@code gfn}, which its nested walk translated to {@code pfn}. */
    long pvalidate(long pfn, long gfn, int size, boolean validate) {
        long r = rmp.pvalidate(pfn, gfn << 12, size, validate, asid);
        ctx.firmwareCall(PVALIDATE, gfn, size == SIZE_2M ? LEVEL_2M : LEVEL_4K, status(r));
        return r;
    }

    /** The guest's RMPADJUST from {@code vmpl}, with RDX = {@code attrs}. */
    long rmpadjust(long pfn, long gfn, int size, int vmpl, long attrs) {
        long r = rmp.rmpadjust(pfn, gfn << 12, size, vmpl, attrs, asid);
        ctx.firmwareCall(RMPADJUST, gfn, size == SIZE_2M ? LEVEL_2M : LEVEL_4K, status(r));
        return r;
    }

    private String status(long r) {
        if (GuestResult.isNpf(r))
            return (GuestResult.npfBits(r) & Pferr.GUEST_SIZEM) != 0 ? "NPF_RMP_SIZEM" : "NPF_RMP";
        if (GuestResult.cf(r))
            return "NOUPDATE";
        return codes.name(GuestResult.eax(r));
    }
}
