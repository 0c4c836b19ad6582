package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptState.MAPPED;
import static org.tdplab.backend.tdx.module.SeptWalk.failed;
import static org.tdplab.backend.tdx.module.SeptWalk.levelPages;
import static org.tdplab.backend.tdx.module.SeptWalk.posLevel;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_NOT_PRESENT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_NO_VCPUS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

/** The TD's build-time measurement MRTD: TDH.MR.EXTEND, TDH.MR.FINALIZE, and what TDH.MEM.PAGE.ADD adds to it. */
final class Measurement {
    private final TdxModule m;
    private final TdChecks checks;
    private final SeptWalk walk;

    Measurement(TdxModule m, TdChecks checks, SeptWalk walk) {
        this.m = m;
        this.checks = checks;
        this.walk = walk;
    }

    /** Folds {@code a, b} into MRTD (an FNV-1a style stand-in for SHA-384: the model only needs order sensitivity). */
    void measure(long a, long b) {
        long h = m.mrtd == 0 ? 0xcbf29ce484222325L : m.mrtd;
        h = (h ^ a) * 0x100000001b3L;
        h = (h ^ b) * 0x100000001b3L;
        m.mrtd = h;
    }

    /** TDH.MR.EXTEND (leaf 16): RCX = a 256-byte chunk's GPA, RDX = TDR (exclusive). Measures it into MRTD. */
    long extend(long rcx, long rdx) {
        long st = checks.prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MR_EXTEND);
        if (st != TDX_SUCCESS)
            return st;
        if ((rcx & 0xFF) != 0 || !walk.privateGpa(rcx))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long pos = walk.walkToLeaf(rcx >>> 12);
        if (failed(pos))
            return withOperand(TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_RCX);
        long e = walk.entry(pos);
        if (SeptTree.state(e) != MAPPED)
            return TDX_EPT_ENTRY_NOT_PRESENT;
        long pfn = (SeptTree.hpa(e) >>> 12) + ((rcx >>> 12) & (levelPages(posLevel(pos)) - 1));
        measure(Seamcall.TDH_MR_EXTEND.leaf() ^ rcx, m.frames.read(pfn) ^ (rcx & 0xF00));
        return TDX_SUCCESS;
    }

    /** TDH.MR.FINALIZE (leaf 17): RCX = TDR. MRTD final; OP_STATE → RUNNABLE. */
    long finalizeTd(long rcx) {
        long st = checks.prologue(rcx, OPERAND_RCX, 0, Seamcall.TDH_MR_FINALIZE);
        if (st != TDX_SUCCESS)
            return st;
        if (m.vcpus.count < 1)
            return TDX_NO_VCPUS;
        measure(Seamcall.TDH_MR_FINALIZE.leaf(), 0);
        m.opState = TdxAbi.OP_RUNNABLE;
        return TDX_SUCCESS;
    }
}
