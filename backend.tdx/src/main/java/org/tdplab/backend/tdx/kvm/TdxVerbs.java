package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import java.util.List;

import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VerbSpec;

/**
 * The TD build ioctls as backend verbs: {@code tdx.init_mem_region} ({@code KVM_TDX_INIT_MEM_REGION}) and
 * {@code tdx.finalize} ({@code KVM_TDX_FINALIZE_VM}), on the TD's state in {@link TdxVm}; and {@code tdx.fail}, fault
 * injection into the SEAMCALLs whose failure KVM handles ({@link SeamcallFaults}). Arguments arrive typed
 * ({@link VerbArgs}); {@code init_mem_region} returns the region's leftover, as KVM writes it back.
 */
final class TdxVerbs {
    static final VerbSpec INIT_MEM_REGION = new VerbSpec("tdx.init_mem_region",
            List.of(VerbOption.required("gpa", VerbOption.Type.GPA), VerbOption.required("size", VerbOption.Type.SIZE)),
            List.of("measure"), "KVM_TDX_INIT_MEM_REGION: copy the shared pages' contents into private memory with "
                    + "TDH.MEM.PAGE.ADD (and TDH.MR.EXTEND when measured), before finalize; hands back the region "
                    + "left undone");
    static final VerbSpec FINALIZE = new VerbSpec("tdx.finalize", List.of(), List.of(),
            "KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE; the TD becomes runnable");
    static final VerbSpec FAIL = new VerbSpec("tdx.fail", List.of(VerbOption.required("leaf", VerbOption.Type.TEXT),
            VerbOption.required("status", VerbOption.Type.TEXT), VerbOption.optional("times", VerbOption.Type.NUMBER)),
            List.of(), "fault injection: the next calls (times=N, default 1) of a TLB-tracking or teardown SEAMCALL "
                    + "(leaf=TDH.MEM.TRACK, TDH.PHYMEM.CACHE.WB …) answer status=NAME|0xHEX: an error without "
                    + "running, an informational status after it ran; returns the calls of that leaf now queued");
    /** The verbs a TD takes, in the order help lists them. */
    public static final List<VerbSpec> SPECS = List.of(INIT_MEM_REGION, FINALIZE, FAIL);

    private final TdxVm td;

    TdxVerbs(TdxVm td) {
        this.td = td;
    }

    VerbResult invoke(String verb, VerbArgs args) {
        return switch (verb) {
        case "init_mem_region" -> initMemRegion(args.checkedAgainst(INIT_MEM_REGION));
        case "finalize" -> {
            finalizeTd(args.checkedAgainst(FINALIZE));
            yield VerbResult.NONE;
        }
        case "fail" -> fail(args.checkedAgainst(FAIL));
        default -> throw new MmuException(Errno.ENOTSUP, "VM type tdx has no verb '%s' (init_mem_region, finalize, "
                + "fail)", verb);
        };
    }

    /**
     * {@code KVM_TDX_INIT_MEM_REGION} ({@code tdx_vcpu_init_mem_region} → {@code kvm_gmem_populate} →
     * {@code tdx_gmem_post_populate}), one 4K page at a time: the source (the shared page at the same GPA, standing
     * for userspace's image buffer) is staged, the page is mapped through the mirror (SEPT.ADD as needed, then
     * PAGE.ADD with the staged source), and with {@code measure} extended into MRTD 256 bytes at a time. The region
     * advances page by page and is written back whether or not a page fails (6.16–6.18): a failure after some pages
     * fails the ioctl with the rest handed back.
     */
    private VerbResult initMemRegion(VerbArgs args) {
        long gpa = args.number("gpa"), size = args.number("size");
        if (!td.hkidAssigned() || td.tdState() == TdxVm.TD_STATE_RUNNABLE)
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: TD '%s' is finalized: its initial memory is "
                    + "fixed", td.ctx.name());
        if ((gpa & 0xFFF) != 0 || size == 0 || (size & 0xFFF) != 0 || Long.compareUnsigned(gpa + size, gpa) <= 0)
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: gpa=0x%x size=0x%x must be 4K-aligned, "
                    + "non-empty and not wrap past 2^64", gpa, size);
        if (!privateGpa(gpa) || !privateGpa(gpa + size - 1))
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: gpa=0x%x size=0x%x is not a private GPA range "
                    + "(the shared bit is %d)", gpa, size, td.sharedBit);
        boolean measure = args.flag("measure");
        long gfn = gpa >>> 12, end = (gpa + size) >>> 12;
        try {
            for (; gfn < end; gfn++)
                populate(gfn, measure);
        } catch (MmuException e) {
            throw e.withRemaining(new Remaining(gfn << 12, (end - gfn) << 12)); // copy_to_user(region)
        }
        return VerbResult.handedBack(end << 12, 0);
    }

    private boolean privateGpa(long gpa) {
        return (gpa >>> td.sharedBit) == 0;
    }

    private void populate(long gfn, boolean measure) {
        TdxModule module = td.module;
        // kvm_gmem_populate, in its order: a guest_memfd slot, a page not populated, a private page. 7.0 dropped
        // guest_memfd's preparation tracking (6.18's EEXIST for a folio marked prepared), so a page converted shared
        // and back is added again, and a page still mapped reaches kvm_tdp_mmu_map_private_pfn, whose fault is
        // spurious: EIO, the TD unharmed.
        if (td.ctx.gmemPfn(gfn) < 0)
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: no guest_memfd backs gpa 0x%x", gfn << 12);
        if (module.view().lookup(gfn, 0) >= 0 && TdxAbi.stateOf(module.view().lookup(gfn, 0)) != 0)
            throw new MmuException(Errno.EIO, "tdx.init_mem_region: gpa 0x%x is populated already (its map is a "
                    + "spurious fault: KVM 7.0 and later return EIO, 6.18's guest_memfd EEXIST)", gfn << 12);
        if (!td.ctx.isPrivate(gfn))
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: gpa 0x%x is not private (attr.set … private "
                    + "first)", gfn << 12);
        long src = td.frames.alloc();
        boolean mapped;
        try {
            td.pageAddToken = td.ctx.sharedToken(gfn);
            td.ctx.writeToken(src, td.pageAddToken);
            td.pageAddSrc = src;
            mapped = td.ctx.mapPrivate(gfn); // kvm_tdp_mmu_map_private_pfn
        } finally {
            td.pageAddSrc = -1;
            td.frames.free(src);
        }
        if (!mapped)
            throw new MmuException(Errno.EIO, "tdx.init_mem_region: gpa 0x%x could not be mapped%s", gfn << 12,
                    td.ctx.bugged() ? " (the VM is bugged)" : "");
        if (!measure)
            return;
        TdxModule.Regs regs = TdxVm.REGS.get();
        for (long off = 0; off < 4096; off += 256) {
            long st = td.seamcall(Seamcall.TDH_MR_EXTEND, gfn, TdxVm.PG_LEVEL_4K,
                    module.tdhMrExtend((gfn << 12) + off, td.tdr(), regs));
            if (st != TDX_SUCCESS) {
                td.tdxBug(Seamcall.TDH_MR_EXTEND, gfn, st);
                throw new MmuException(Errno.EIO, "tdx.init_mem_region: TDH.MR.EXTEND of gpa 0x%x failed: %s",
                        (gfn << 12) + off, TdxStatus.name(st));
            }
        }
    }

    /**
     * {@code tdx.fail}: fault injection, as a KVM developer makes the TDX module fail under KVM. The next {@code times}
     * calls of the leaf answer the status: an error (bit 63) without the leaf running, as a failed SEAMCALL changes
     * nothing; an informational status (bit 63 clear, e.g. {@code TDX_NO_HKID_READY_TO_WBCACHE}) after it ran. Only
     * the leaves of {@link SeamcallFaults#LEAVES}. Everything is checked before anything is queued.
     */
    private VerbResult fail(VerbArgs args) {
        Seamcall leaf = injectable(args.word("leaf", ""));
        String text = args.word("status", "");
        boolean hex = text.matches("0x[0-9a-fA-F]{1,16}");
        if (TdxStatus.ofName(text).isEmpty() && !hex)
            throw new MmuException(Errno.EINVAL, "tdx.fail: status=%s: neither a TDX status name (TDX_OPERAND_"
                    + "INVALID, TDX_OPERAND_BUSY, …) nor a 64-bit hex value (0x…)", text);
        long status = hex ? Long.parseUnsignedLong(text.substring(2), 16) : TdxStatus.ofName(text).getAsLong();
        if (status == TDX_SUCCESS)
            throw new MmuException(Errno.EINVAL, "tdx.fail: status=%s: TDX_SUCCESS fails nothing", text);
        if ((status >>> 62) == 1)
            throw new MmuException(Errno.EINVAL, "tdx.fail: status=%s: no TDX status sets bit 62 (non-recoverable) "
                    + "without bit 63 (error)", text);
        long times = args.number("times", 1);
        if (times < 1 || times > Integer.MAX_VALUE)
            throw new MmuException(Errno.EINVAL, "tdx.fail: times=%s: from 1 to %d calls", Long.toUnsignedString(
                    times), Integer.MAX_VALUE);
        if (TdxStatus.isError(status))
            td.faults.fail(leaf, status, times);
        else
            td.faults.answer(leaf, status, times);
        return VerbResult.count(td.faults.queued(leaf));
    }

    private static Seamcall injectable(String name) {
        for (Seamcall s : Seamcall.values())
            if (s.intelName().equals(name)) {
                if (SeamcallFaults.LEAVES.contains(s))
                    return s;
                throw new MmuException(Errno.EINVAL, "tdx.fail: leaf=%s cannot be failed: only the leaves whose "
                        + "failure KVM handles in a defined way (bug, retry, warn, leak) can: %s", name, leaves());
            }
        throw new MmuException(Errno.EINVAL, "tdx.fail: leaf=%s: no SEAMCALL leaf of that name (by Intel's names, "
                + "tdx.fail takes %s)", name, leaves());
    }

    private static String leaves() {
        return String.join(", ", SeamcallFaults.LEAVES.stream().map(Seamcall::intelName).toList());
    }

    /** {@code KVM_TDX_FINALIZE_VM}: TDH.MR.FINALIZE; the TD is runnable and pre-faulting is allowed. */
    private void finalizeTd(VerbArgs args) {
        if (!td.hkidAssigned() || td.tdState() == TdxVm.TD_STATE_RUNNABLE)
            throw new MmuException(Errno.EINVAL, "tdx.finalize: TD '%s' is already finalized", td.ctx.name());
        long st;
        synchronized (td.finalizeLock) { // no removal between its BLOCK and its REMOVE meanwhile (TdxVm#finalizeLock)
            st = td.seamcall(Seamcall.TDH_MR_FINALIZE, 0, 0, td.module.tdhMrFinalize(td.tdr()));
            if (st == TDX_SUCCESS)
                td.runnable();
        }
        if (TdxStatus.operandBusy(st))
            throw new MmuException(Errno.EBUSY, "tdx.finalize: TDH.MR.FINALIZE is busy: %s", TdxStatus.name(st));
        if (st != TDX_SUCCESS) {
            td.tdxBug(Seamcall.TDH_MR_FINALIZE, 0, st);
            throw new MmuException(Errno.EIO, "tdx.finalize: TDH.MR.FINALIZE failed: %s", TdxStatus.name(st));
        }
        td.ctx.allowPreFault();
    }
}
