package org.tdplab.backend.snp.kvm;

import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;


import org.tdplab.backend.snp.rmp.GuestResult;
import org.tdplab.backend.snp.rmp.Pferr;
import org.tdplab.backend.snp.rmp.RmpCodes;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.OperandInstruction;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * What a Linux SNP guest does with PVALIDATE ({@code arch/x86/coco/sev}): it validates 2M where the range allows and
 * falls back to 512 4K validations on {@code FAIL_SIZEMISMATCH}; a #NPF exits to KVM and the guest re-executes the
 * instruction that faulted; before a page goes shared it rescinds the validation (PVALIDATE with validate = 0),
 * then asks for the page-state change.
 *
 * <p>A Linux guest treats a PVALIDATE that changes nothing (CF = 1) as fatal and terminates; the model accepts it, so
 * that validating a launched (pre-validated) page, or validating twice, is harmless here.
 */
final class LinuxGuest {
    private static final int PAGES_2M = 512;
    /** Re-executions of one rescind before the model gives up (KVM would let the guest spin). */
    private static final int RESCIND_TRIES = 8;

    private final VmContext ctx;
    private final RmpCalls calls;
    private final RmpFaults rmpFaults;
    private final Anomalies anomalies;
    /**
     * Per vCPU, a 2M PVALIDATE the guest is validating page by page: its GFN (-1: none) and the next page, in cells
     * of their own 128 bytes apart — the fallback runs at every page of a 4K-backed range, on every vCPU thread.
     */
    private final long[] fallback;
    private static final int FALLBACK_GFN = 0, FALLBACK_NEXT = 1;
    /**
     * Per vCPU, {@value #STRIDE} cells apart (each vCPU thread writes its own on every PVALIDATE; one line for all
     * would bounce between them): the operands of its PVALIDATE under way (size, validate) and what it returned
     * ({@link GuestResult}).
     */
    private final long[] pvalidateCells;
    private static final int STRIDE = 16, OPERANDS = 0, RESULT = 1;
    /**
     * PVALIDATE as an instruction on its operand's frame: one object whatever the size and direction, so that the
     * core's call of it stays monomorphic (one per size and direction made it megamorphic: a forked A/B priced the
     * one object at 0.97× of the four, the JVMs 0.89–1.05×).
     */
    private final OperandInstruction pvalidateInsn = this::executePvalidate;

    private static int fb(int vcpu, int field) {
        return (vcpu + 1) * STRIDE + field;
    }

    long[] fallbackGfn() {
        long[] out = new long[ctx.vcpus()];
        for (int v = 0; v < out.length; v++)
            out[v] = fallback[fb(v, FALLBACK_GFN)];
        return out;
    }

    int[] fallbackNext() {
        int[] out = new int[ctx.vcpus()];
        for (int v = 0; v < out.length; v++)
            out[v] = (int) fallback[fb(v, FALLBACK_NEXT)];
        return out;
    }

    void restoreFallback(long[] gfn, int[] next) {
        for (int v = 0; v < ctx.vcpus(); v++) {
            fallback[fb(v, FALLBACK_GFN)] = gfn[v];
            fallback[fb(v, FALLBACK_NEXT)] = next[v];
        }
    }

    LinuxGuest(VmContext ctx, RmpCalls calls, RmpFaults rmpFaults, Anomalies anomalies) {
        this.ctx = ctx;
        this.calls = calls;
        this.rmpFaults = rmpFaults;
        this.anomalies = anomalies;
        this.fallback = new long[(ctx.vcpus() + 2) * STRIDE]; // a line of padding before the first, after the last
        this.pvalidateCells = new long[(ctx.vcpus() + 2) * STRIDE];
        for (int v = 0; v < ctx.vcpus(); v++)
            fallback[fb(v, FALLBACK_GFN)] = -1;
    }

    private void executePvalidate(int vcpu, long gfn, long walk) {
        int at = (vcpu + 1) * STRIDE;
        long operands = pvalidateCells[at + OPERANDS];
        pvalidateCells[at + RESULT] = calls.pvalidate(Walk.pfn(walk), gfn, (int) (operands >>> 1),
                (operands & 1) != 0);
    }

    /**
     * The guest's PVALIDATE of {@code gfn}: the nested walk of its operand and the instruction on the frame reached,
     * as one (a punch's zap and flush cannot free the frame between them). Returns the walk; when it translated,
     * the instruction's result is {@link #result}.
     */
    private long pvalidate(int vcpu, long gfn, int size, boolean validate) {
        pvalidateCells[(vcpu + 1) * STRIDE + OPERANDS] = (long) size << 1 | (validate ? 1 : 0);
        return ctx.executeOnOperand(vcpu, gfn, true, pvalidateInsn);
    }

    /** What the last {@link #pvalidate} of {@code vcpu} that translated its operand returned. */
    private long result(int vcpu) {
        return pvalidateCells[(vcpu + 1) * STRIDE + RESULT];
    }

    /**
     * The guest validates {@code gfn} at {@code level} (1 = 4K, 2 = 2M). Returns a translated {@link Walk} when
     * done, or the #NPF that exits to KVM (after which the core re-executes this with the same arguments).
     */
    long accept(int vcpu, long gfn, int level) {
        if (level != 1 && level != 2)
            throw new MmuException(Errno.EINVAL, "PVALIDATE validates 4K or 2M pages (RCX = 0 or 1): level %d "
                    + "does not exist", level);
        if (level == 1) {
            forgetFallback(vcpu);
            return validate4k(vcpu, gfn, true);
        }
        return accept2m(vcpu, gfn);
    }

    /** {@link #accept} at 2M: PVALIDATE at 2M, or page by page where the RMP holds 4K pages. */
    private long accept2m(int vcpu, long gfn) {
        int next = fallback[fb(vcpu, FALLBACK_GFN)] == gfn ? (int) fallback[fb(vcpu, FALLBACK_NEXT)] : -1;
        if (next < 0) {
            rmpFaults.exited(vcpu); // an RMP fault of this PVALIDATE is judged against the state at its start
            long w = pvalidate(vcpu, gfn, SIZE_2M, true);
            if (!Walk.isTranslated(w))
                return w; // no nested entry: KVM maps it, the guest re-executes PVALIDATE
            long r = result(vcpu);
            if (GuestResult.isNpf(r))
                return Walk.violation(GuestResult.npfBits(r) | Pferr.access(false, false));
            if (GuestResult.eax(r) == RmpCodes.SUCCESS)
                return w;
            if (GuestResult.eax(r) != calls.rmp().codes().failSizeMismatch())
                return unexpected(gfn, r);
            next = 0; // FAIL_SIZEMISMATCH: the RMP holds 4K pages here; validate them one by one
        }
        long w = Walk.NOT_HANDLED;
        for (int i = next; i < PAGES_2M; i++) {
            fallback[fb(vcpu, FALLBACK_GFN)] = gfn;
            fallback[fb(vcpu, FALLBACK_NEXT)] = i;
            w = validate4k(vcpu, gfn + i, true);
            if (!Walk.isTranslated(w))
                return w; // re-executed from page i once KVM handled the exit
        }
        fallback[fb(vcpu, FALLBACK_GFN)] = -1;
        return w;
    }

    /** No 2M fallback in progress for {@code vcpu}. */
    private void forgetFallback(int vcpu) {
        if (fallback[fb(vcpu, FALLBACK_GFN)] != -1)
            fallback[fb(vcpu, FALLBACK_GFN)] = -1;
    }

    /** One 4K PVALIDATE through the nested walk. */
    private long validate4k(int vcpu, long gfn, boolean validate) {
        rmpFaults.exited(vcpu); // an RMP fault of this PVALIDATE is judged against the state at its start
        long w = pvalidate(vcpu, gfn, SIZE_4K, validate);
        if (!Walk.isTranslated(w))
            return w;
        long r = result(vcpu);
        if (GuestResult.isNpf(r))
            return Walk.violation(GuestResult.npfBits(r) | Pferr.access(false, false));
        if (GuestResult.eax(r) != RmpCodes.SUCCESS)
            return unexpected(gfn, r);
        return w;
    }

    /** Any other PVALIDATE failure makes a Linux guest terminate (GHCB_TERM_PVALIDATE): the VM cannot go on. */
    private long unexpected(long gfn, long r) {
        anomalies.add(String.format("guest PVALIDATE of gpa 0x%x failed with %s: a Linux guest terminates", gfn << 12,
                calls.rmp().codes().name(GuestResult.eax(r))));
        return Walk.fatal();
    }

    /**
     * Before {@code [gfn, gfn + npages)} goes shared the guest rescinds the validation of what it holds private:
     * PVALIDATE(0) at 2M for whole aligned 2M runs, else at 4K. A missing nested entry is faulted in by KVM and the
     * instruction re-executed; a #NPF for a 4K rescind inside a 2M RMP page is handled by KVM (PSMASH) first.
     */
    void rescind(int vcpu, long gfn, long npages) {
        forgetFallback(vcpu);
        long end = gfn + npages;
        for (long g = gfn; g < end;) {
            if (!ctx.isPrivate(g)) {
                g++;
                continue;
            }
            if ((g & (PAGES_2M - 1)) == 0 && end - g >= PAGES_2M && allPrivate(g)) {
                if (!rescindOne(vcpu, g, SIZE_2M))
                    for (int i = 0; i < PAGES_2M; i++)
                        rescindOne(vcpu, g + i, SIZE_4K);
                g += PAGES_2M;
            } else {
                rescindOne(vcpu, g, SIZE_4K);
                g++;
            }
        }
    }

    private boolean allPrivate(long head) {
        for (int i = 0; i < PAGES_2M; i++)
            if (!ctx.isPrivate(head + i))
                return false;
        return true;
    }

    /** One PVALIDATE(0), re-executed after each exit as the hardware would; false on FAIL_SIZEMISMATCH. */
    private boolean rescindOne(int vcpu, long gfn, int size) {
        for (int tries = 0; tries < RESCIND_TRIES; tries++) {
            // what KVM's RMP-fault handler compares with: sampled before the instruction translates its operand (a
            // memslot deleted after the translation leaves PVALIDATE a stale frame, a race the kernel warns about)
            long seq = rmpFaults.seq(), slots = rmpFaults.slots();
            long w = pvalidate(vcpu, gfn, size, false);
            if (!Walk.isTranslated(w)) {
                if (!ctx.mapPrivate(gfn))
                    return true; // KVM cannot map it (no private backing): nothing validated there
                continue;
            }
            long r = result(vcpu);
            if (GuestResult.isNpf(r)) {
                long bits = GuestResult.npfBits(r);
                // npf_interception: KVM's fault first; an encrypted access to a GPA shared by attribute (made
                // shared and mapped shared since the guest looked) exits to userspace, no RMP handling follows
                if ((bits & Pferr.GUEST_ENC) != 0 && !ctx.isPrivate(gfn) && !ctx.mapPrivate(gfn))
                    return true;
                rmpFaults.handle(gfn, bits, seq, slots);
                continue;
            }
            if (GuestResult.eax(r) == calls.rmp().codes().failSizeMismatch())
                return false;
            if (GuestResult.eax(r) != RmpCodes.SUCCESS)
                anomalies.add(String.format("guest PVALIDATE(0) of gpa 0x%x failed with %s", gfn << 12,
                        calls.rmp().codes().name(GuestResult.eax(r))));
            return true;
        }
        anomalies.add(String.format("guest PVALIDATE(0) of gpa 0x%x keeps faulting: the guest would spin", gfn << 12));
        return true;
    }
}
