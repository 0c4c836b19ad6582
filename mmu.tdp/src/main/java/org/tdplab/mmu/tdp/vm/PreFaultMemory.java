package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_RETRY;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_WRITE_PROTECTED;
import static org.tdplab.mmu.tdp.vm.FaultHandler.EXIT_MEMORY_FAULT;
import static org.tdplab.mmu.tdp.vm.FaultHandler.EXIT_MMIO;
import static org.tdplab.mmu.tdp.vm.FaultHandler.PREFETCH_EAGAIN;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * {@code KVM_PRE_FAULT_MEMORY} ({@code kvm_arch_vcpu_pre_fault_memory}): the range mapped page by page through the
 * same fault handler a guest access takes, as a prefetch, each fault's level deciding the next GFN.
 */
final class PreFaultMemory {
    private final VmStatus status;
    private final VmMemory mem;
    private final TdpMmu mmu;
    private final FaultHandler faults;

    PreFaultMemory(VmStatus status, VmMemory mem, TdpMmu mmu, FaultHandler faults) {
        this.status = status;
        this.mem = mem;
        this.mmu = mmu;
        this.faults = faults;
    }

    /** Maps the range as faults would; returns the bytes left unmapped when it stopped after some progress. */
    long prefault(Vcpu v, long gpa, long size) {
        if (!status.preFaultAllowed())
            throw new MmuException(Errno.ENOTSUP, "KVM_PRE_FAULT_MEMORY is not allowed on VM '%s' yet", status.name);
        if (mmu.routing.hasSharedBit(gpa))
            throw new MmuException(Errno.EINVAL, "prefault gpa=0x%x is an alias (it has the shared bit)", gpa);
        Ranges.checkPages("prefault", gpa, size, mmu.caps.maxGfn());
        long start = gpa >>> 12, end = (gpa + size) >>> 12;
        long gfn = start;
        while (gfn < end) {
            boolean isPrivate = mmu.caps.privateMem() && mem.attributes.isPrivate(gfn);
            long faultGpa = mmu.routing.guestGpa(gfn, isPrivate);
            v.loadRoots(mmu.roots);
            int ret = faults.handle(v, faultGpa, ErrorCode.USER, isPrivate, true);
            Errno error = switch (ret) {
            case RET_PF_FIXED, RET_PF_SPURIOUS, RET_PF_WRITE_PROTECTED -> null;
            case RET_PF_RETRY -> null;
            case RET_PF_EMULATE, EXIT_MMIO -> Errno.ENOENT;
            case EXIT_MEMORY_FAULT -> Errno.EFAULT;
            case PREFETCH_EAGAIN -> Errno.EAGAIN;
            default -> Errno.EIO;
            };
            if (error != null) {
                if (gfn == start)
                    throw new MmuException(error, "prefault at gpa 0x%x: %s", gfn << 12,
                            switch (error) {
                            case ENOENT -> "no memslot (the access would be emulated)";
                            case EAGAIN -> "its memslot is being deleted or moved; try again";
                            case EFAULT -> (v.exitPrivate ? "the page is private and no guest_memfd memslot backs "
                                    + "it" : "a memory fault") + " (KVM_RUN would exit with KVM_EXIT_MEMORY_FAULT)";
                            default -> "could not map";
                            });
                return (end - gfn) << 12;
            }
            if (ret == RET_PF_RETRY)
                continue;
            int level = v.fault.goalLevel;
            gfn = Spte.gfnRoundForLevel(gfn, level) + Spte.pagesPerHpage(level);
        }
        return 0;
    }
}
