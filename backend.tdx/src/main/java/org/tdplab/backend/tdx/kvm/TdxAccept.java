package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;


import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.SeptCpuWalk;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * The TD's hardware and guest side: the CPU's walk of the S-EPT for private GPAs, the guest's
 * TDG.MEM.PAGE.ACCEPT as Linux's {@code tdx_accept_memory} issues it (with the per-vCPU cursor a TD exit leaves),
 * and KVM's exit handling of an ACCEPT at a smaller level than mapped ({@code tdx_honor_guest_accept_level}).
 *
 * <p>Whether a vCPU may enter the TD ({@code wait_for_sept_zap} clear) is read under the module's lock, with the entry,
 * as KVM reads it with the vCPU already in guest mode: a host that sets it and kicks ({@code tdh_do_no_vcpus}) then
 * finds every vCPU either kept out or counted in the kick's snapshot. Read before the lock, a vCPU could decide to
 * enter, lose the lock to the snapshot, enter unseen, and the host's retried SEAMCALL would meet it inside.
 */
final class TdxAccept {
    private final TdxVm td;
    /** KVM lets a vCPU enter unless it keeps vCPUs out ({@code wait_for_sept_zap}). */
    private final java.util.function.BooleanSupplier mayEnter;

    TdxAccept(TdxVm td) {
        this.td = td;
        this.mayEnter = () -> !td.waitForSeptZap;
    }

    /**
     * The CPU walks the S-EPT for a private GPA. A missing or blocked entry is an EPT violation (KVM maps it, the
     * access retries); a PENDING page is a #VE, or with SEPT_VE_DISABLE a TD exit KVM answers by killing the VM
     * ("Guest access before accepting"). Allocation-free.
     *
     * <p>Before finalize KVM refuses KVM_RUN ({@code tdx_vcpu_pre_run}: EINVAL, the TD unharmed), and so does the
     * model for private accesses, accepts and conversions ({@link TdxVm#runRefusal}); shared accesses run, as a
     * scenario's stand-in for the VMM writing its image into shared memory.
     */
    long translatePrivate(int vcpu, long gfn, Access access) {
        boolean write = access == Access.WRITE;
        // a vCPU inside the TD walks without the module's lock unless the host is keeping vCPUs out (it kicks them)
        long r = td.waitForSeptZap ? SeptCpuWalk.LOCKED : SeptCpuWalk.translateUnlocked(td.module, vcpu, gfn, write);
        if (r == SeptCpuWalk.LOCKED) {
            td.module.lock.lockExclusive(); // KVM's decision to enter, at the entry (see the class comment)
            try {
                r = td.module.guestTranslate(vcpu, gfn, write, !td.waitForSeptZap);
            } finally {
                td.module.lock.unlockExclusive();
            }
        }
        if (r >= 0)
            return Walk.translated(r & ((1L << 56) - 1), (int) (r >>> 56));
        if (r == TdxAbi.G_VE)
            return Walk.exception(TdxVm.VE_VECTOR);
        if (r == TdxAbi.G_PENDING_EXIT)
            return Walk.fatal(); // tdx_handle_ept_violation: kvm_vm_dead
        return Walk.violation(0);
    }

    /**
     * The guest's accept of the {@code level}-sized unit at {@code gfn}, as Linux's {@code tdx_accept_memory} does
     * it: TDG.MEM.PAGE.ACCEPT at the largest size that fits, the next smaller size after
     * {@code TDX_PAGE_SIZE_MISMATCH} (KVM maps private memory at 4K, so a 2M accept ends as 512 4K ones). A missing
     * page makes the TD exit; KVM maps it (PAGE.AUG) and the guest re-executes that same TDCALL: the vCPU's place in
     * the unit is kept ({@link TdxVm#cursors}, until a private page is removed) as the guest's registers would keep
     * it, and the exit is taken at that page (the operand of its last {@link VmContext#nestedWalk}). Accepted pages
     * read zero. Allocation-free.
     */
    long accept(int vcpu, long gfn, int level) {
        long end = gfn + (1L << (9 * (level - 1)));
        long g;
        int l;
        AcceptCursors c = td.cursors;
        if (c.unit(vcpu) == gfn && c.unitLevel(vcpu) == level && c.removals(vcpu) == td.removals.sum()) {
            g = c.gfn(vcpu);
            l = c.level(vcpu);
        } else {
            g = gfn;
            l = level;
        }
        while (g < end) {
            int septLevel = l - 1;
            // the decision to enter is read holding the lock, as above; other vCPUs' ACCEPTs and AUGs run meanwhile
            long st = td.module.tdgMemPageAccept(vcpu, (g << 12) | septLevel, mayEnter);
            tally(g, l, st);
            long cls = TdxStatus.classOf(st);
            if (st == TDX_SUCCESS || cls == TdxStatus.TDX_PAGE_ALREADY_ACCEPTED) { // the oracle heard of the zeroing
                g += 1L << (9 * septLevel);
                l = largestFit(g, end, level);
                continue;
            }
            if (l > TdxVm.PG_LEVEL_4K
                    && (cls == TdxStatus.TDX_PAGE_SIZE_MISMATCH || cls == TdxStatus.TDX_OPERAND_INVALID)) {
                l--; // try_accept_one failed at this size: the next smaller one (TDX has no 1G ACCEPT)
                continue;
            }
            if (st == TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION || st == TdxStatus.MODEL_NOT_ENTERED
                    || cls == TdxStatus.TDX_OPERAND_BUSY || cls == TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY) {
                // the TDCALL is re-executed after the exit (busy: the model lets the host run before the retry)
                return exitToRetry(vcpu, gfn, level, g, l, st);
            }
            return failed(vcpu); // a Linux guest panics when it cannot accept its memory
        }
        c.forget(vcpu);
        return Walk.translated(td.module.acceptedHpa(vcpu) >>> 12, level);
    }

    /**
     * The ACCEPT counted as a firmware call. Out of line with {@link #failed}: {@link #accept} stays within the JIT's
     * size for inlining a hot method (325 bytes of bytecode), so its caller inlines it.
     */
    private void tally(long g, int l, long st) {
        td.ctx.firmwareCall(Seamcall.TDG_MEM_PAGE_ACCEPT.intelName(), g, l, TdxStatus.name(st));
    }

    /** An ACCEPT that cannot go on: the cursor goes, and the guest with it. */
    private long failed(int vcpu) {
        td.cursors.forget(vcpu);
        return Walk.fatal();
    }

    /**
     * The ACCEPT of {@code [gfn, gfn + level)} stopped at {@code g} (level {@code l}) to exit: where it got is kept
     * for the retry, and the exit's walk result is returned. Out of line: the accept's loop stays inlinable.
     */
    private long exitToRetry(int vcpu, long gfn, int level, long g, int l, long st) {
        td.cursors.set(vcpu, gfn, level, g, l, td.removals.sum());
        if (g != gfn) { // the operand the instruction faulted on; out of guest mode, no kick waits for it
            td.module.lock.lockExclusive(); // its walk takes the lock
            try {
                td.ctx.nestedWalk(vcpu, g, true);
            } finally {
                td.module.lock.unlockExclusive();
            }
        }
        return Walk.violation(st == TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION ? acceptExitBits(vcpu) : 0);
    }

    /**
     * The exit's error-code bits for KVM's exit handler: with huge pages, an ACCEPT exit carries the requested level
     * ({@link TdxVm#PFERR_ACCEPT}; KVM reads it from the extended exit qualification, a trace from these bits).
     */
    private long acceptExitBits(int vcpu) {
        if (!td.options.hugePages())
            return 0;
        long eeq = td.module.extExitQualification(vcpu);
        if (TdxAbi.eeqType(eeq) != TdxAbi.EEQ_ACCEPT)
            return 0;
        return TdxVm.PFERR_ACCEPT | ((long) TdxAbi.eeqAcceptLevel(eeq) << TdxVm.PFERR_ACCEPT_LEVEL_SHIFT);
    }

    /**
     * {@code tdx_honor_guest_accept_level} (v3 13/24; {@code tdx_handle_mismatched_accept} in RFC v5 41/45), in the
     * EPT-violation exit handler before the fault: an exit from the guest's ACCEPT at {@code level} splits any
     * private mapping larger than that over the accepted unit (BLOCK, TRACK, kick, DEMOTE under the write lock), then
     * sets the guest-inhibit bit above it (2M, and 1G for a 4K accept), so this and later faults map at the guest's
     * level. The bit is tested first without the lock: it is only ever set, after the split.
     */
    void violationEntered(int vcpu, long gfn, long errorBits) {
        if ((errorBits & TdxVm.PFERR_ACCEPT) == 0 || !td.options.hugePages())
            return;
        int level = (int) ((errorBits >>> TdxVm.PFERR_ACCEPT_LEVEL_SHIFT) & 3) + 1;
        if (level > TdxVm.PG_LEVEL_2M || td.ctx.hugepageTestGuestInhibit(gfn, level + 1))
            return;
        long pages = 1L << (9 * (level - 1));
        // no TLB flush after it: the BLOCK + TRACK + kick of the split is one
        if (!td.ctx.splitCrossBoundaryLeafs(gfn & -pages, pages))
            return; // the VM is bugged
        td.ctx.hugepageSetGuestInhibit(gfn, level + 1);
        if (level == TdxVm.PG_LEVEL_4K)
            td.ctx.hugepageSetGuestInhibit(gfn, level + 2);
    }

    /** The largest accept size ({@code <= max}) whose page at {@code g} is aligned and ends by {@code end}. */
    private static int largestFit(long g, long end, int max) {
        for (int l = max; l > TdxVm.PG_LEVEL_4K; l--) {
            long pages = 1L << (9 * (l - 1));
            if ((g & (pages - 1)) == 0 && g + pages <= end)
                return l;
        }
        return TdxVm.PG_LEVEL_4K;
    }
}
