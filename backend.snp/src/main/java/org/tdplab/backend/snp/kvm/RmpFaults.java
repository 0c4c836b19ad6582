package org.tdplab.backend.snp.kvm;

import java.util.concurrent.atomic.AtomicLong;

import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * KVM's handling of a guest's RMP faults ({@code sev_handle_rmp_fault}), and what it needs to tell a fault it
 * cannot explain from one an attribute change raced: the count of attribute changes begun and ended (odd while
 * one runs) and, per vCPU, that count when its RMP fault exited.
 */
final class RmpFaults {
    private static final int PAGES_2M = 512;

    private final VmContext ctx;
    private final Rmp rmp;
    private final RmpCalls calls;
    private final GmemHooks gmem;
    private final Anomalies anomalies;
    private final AtomicLong seq = new AtomicLong();
    private final long[] seqAtExit, slotsAtExit;

    RmpFaults(VmContext ctx, Rmp rmp, RmpCalls calls, GmemHooks gmem, Anomalies anomalies) {
        this.ctx = ctx;
        this.rmp = rmp;
        this.calls = calls;
        this.gmem = gmem;
        this.anomalies = anomalies;
        this.seqAtExit = new long[ctx.vcpus()];
        this.slotsAtExit = new long[ctx.vcpus()];
    }

    /** {@code kvm_arch_pre_set_memory_attributes} and {@code kvm_arch_post_set_memory_attributes}. */
    void attributesChange() {
        seq.incrementAndGet();
    }

    long seq() {
        return seq.get();
    }

    /** The memslots' generation, sampled with {@link #seq} when an RMP fault exits. */
    long slots() {
        return ctx.memslotGeneration();
    }

    /**
     * What {@link #handleExited} will compare with, sampled where the vCPU's access failed the RMP check (still in
     * guest mode), or where a guest's PVALIDATE begins: not when KVM's exit handler starts, since a memslot deletion
     * waits only for vCPUs to leave guest mode and may complete in between (soak --type snp, seed 202614909).
     */
    void exited(int vcpu) {
        // a store only when the value changed: the vCPUs' entries share a cache line, and a store on every access
        // made each vCPU thread miss on the line the other just wrote
        long s = seq.get(), g = ctx.memslotGeneration();
        if (seqAtExit[vcpu] != s)
            seqAtExit[vcpu] = s;
        if (slotsAtExit[vcpu] != g)
            slotsAtExit[vcpu] = g;
    }

    /** {@link #handle} for the RMP fault {@code vcpu} exited with last. */
    void handleExited(int vcpu, long gfn, long errorBits) {
        handle(gfn, errorBits, seqAtExit[vcpu], slotsAtExit[vcpu]);
    }

    /**
     * {@code sev_handle_rmp_fault}: a PVALIDATE/RMPADJUST smaller than the RMP page (SIZEM), or a nested mapping
     * smaller than it, is fixed by PSMASHing the 2M entry (retrying while in use, and accepting that another CPU split
     * it meanwhile) and zapping the 2M range so the nested tables are rebuilt at 4K. Anything else is unexpected:
     * KVM only warns. A private GPA made shared by {@code KVM_SET_MEMORY_ATTRIBUTES} between the exit and this
     * handler (the fault returned {@code RET_PF_RETRY} in its invalidation window, say) is a race the kernel warns
     * about too ("Unexpected RMP fault for non-private GPA"), with nothing left to do: the model does not report it
     * (found by {@code soak --type snp}, seed 20262642); one with no attribute change in between is reported. The
     * same for a GPA whose memslot was deleted or moved since the exit (the kernel's "non-private slot" warning,
     * seed 20264634).
     */
    void handle(long gfn, long errorBits, long seqAtExit, long slotsAtExit) {
        if (!ctx.isPrivate(gfn)) {
            if (seq.get() != seqAtExit || (seqAtExit & 1) != 0)
                return; // made shared after the exit (KVM_SET_MEMORY_ATTRIBUTES raced the fault): see above
            anomalies.add(String.format("unexpected RMP fault (0x%x) for shared gpa 0x%x", errorBits, gfn << 12));
            return;
        }
        long invalidations = gmem.invalidations();
        long pfn = ctx.gmemPfn(gfn);
        if (pfn < 0) {
            if (ctx.memslotGeneration() != slotsAtExit)
                return; // its memslot changed after the exit: see above
            anomalies.add(String.format("unexpected RMP fault for gpa 0x%x: no guest_memfd page", gfn << 12));
            return;
        }
        if (!gmem.lockUnlessInvalidatedSince(invalidations))
            return; // a punch may have freed the folio since the look-up: the guest's retry faults again if need be
        try {
            if (!split(gfn, pfn))
                return;
        } finally {
            gmem.unlockInvalidations();
        }
        // as the kernel: [gfn, gfn + PTRS_PER_PMD) from the faulting gfn, not 2M-aligned, so the huge leaf holding
        // it goes, and a leaf of the next 2M region too when the gfn is not the first of its own
        ctx.zapGfnRange(gfn, PAGES_2M);
    }

    /** The PSMASH of the folio's 2M RMP entry; false when there is nothing to zap after it. */
    private boolean split(long gfn, long pfn) {
        if (!rmp.isAssigned(pfn)) {
            anomalies.add(String.format("unexpected RMP fault for gpa 0x%x: pfn 0x%x is not assigned", gfn << 12,
                    pfn));
            return false;
        }
        if (calls.splitAlready(pfn))
            return false; // split already, by a concurrent fault: resolved
        if (calls.psmash(pfn) != 0) {
            if (calls.splitAlready(pfn))
                return false; // lost the race to another PSMASH
            anomalies.add(String.format("unable to split the RMP entry of gpa 0x%x (pfn 0x%x)", gfn << 12, pfn));
        }
        return true;
    }
}
