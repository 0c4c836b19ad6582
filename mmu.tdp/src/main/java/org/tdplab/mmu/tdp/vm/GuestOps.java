package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_RETRY;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_WRITE_PROTECTED;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.HardwareWalk;
import org.tdplab.mmu.tdp.vcpu.Tlb;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** What a vCPU does: touch memory through its TLB and the hardware walk, convert, accept, and pre-fault. */
final class GuestOps {
    /** A fault that keeps asking for a retry this often is a livelock, not contention. */
    private static final int MAX_RETRIES = 1 << 22;

    private final CoreVm vm;
    private final TdpMmu mmu;
    private final PrivateSource source;
    private final long sharedBitMask;

    GuestOps(CoreVm vm) {
        this.vm = vm;
        this.mmu = vm.mmu;
        this.source = vm.caps.privateSource();
        this.sharedBitMask = vm.caps.sharedBit() < 0 ? 0 : 1L << vm.caps.sharedBit();
    }

    // ---- accesses -----------------------------------------------------------------------------------------

    AccessResult access(Vcpu v, Access access, long gpa, long size, Encoding encoding, long value) {
        checkEncoding(encoding);
        long natural = gpa & ~sharedBitMask;
        if (size == 0)
            throw new MmuException(Errno.EINVAL, "size=0x%x must be positive", size);
        // the range as written within the GPA width, and its natural GPAs below the shared bit
        if (Long.compareUnsigned(gpa + size, gpa) <= 0 || Long.compareUnsigned(gpa + size, 1L << vm.caps.gpaw()) > 0
                || Long.compareUnsigned(natural + size, vm.caps.maxGfn() << 12) > 0)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x wraps or lies beyond gpaw=%d", gpa, size,
                    vm.caps.gpaw());
        boolean aliasGiven = sharedBitMask != 0 && (gpa & sharedBitMask) != 0;
        long first = natural >>> 12, last = (natural + size - 1) >>> 12;
        boolean agree = true;
        long firstValue = 0;
        for (long gfn = first; gfn <= last; gfn++) {
            boolean isPrivate = privateFor(gfn, encoding, aliasGiven);
            long guestGpa = (gfn << 12) | (isPrivate ? 0 : sharedBitMask);
            long token = access == Access.WRITE ? (value != Vm.DEFAULT_TOKEN ? value : TokenMap.defaultToken(gfn)) : 0;
            long result = touch(v, access, guestGpa, gfn, isPrivate, token);
            if (result != DONE)
                return ended(v, gfn - first, result);
            long seen = access == Access.WRITE ? token : v.lastRead;
            if (gfn == first)
                firstValue = seen;
            else if (seen != firstValue)
                agree = false;
        }
        return AccessResult.done(last - first + 1, agree, firstValue);
    }

    private void checkEncoding(Encoding encoding) {
        if (encoding == Encoding.CURRENT)
            return;
        if (source == PrivateSource.ATTRIBUTES)
            throw new MmuException(Errno.EINVAL, "VM type %s takes privateness from attributes alone: the guest has "
                    + "no '%s' encoding", vm.type(), encoding.name().toLowerCase());
        if (source == PrivateSource.NONE && encoding == Encoding.PRIVATE)
            throw new MmuException(Errno.EINVAL, "VM type %s has no private memory", vm.type());
    }

    private boolean privateFor(long gfn, Encoding encoding, boolean aliasGiven) {
        if (source == PrivateSource.NONE)
            return false;
        if (encoding == Encoding.PRIVATE)
            return true;
        if (encoding == Encoding.SHARED || aliasGiven)
            return false;
        return vm.attributes.isPrivate(gfn);
    }

    /**
     * The data oracle, consulted inside guest mode so that a discard (which first flushes, waiting for vCPUs to
     * leave guest mode) is ordered with the access. The page's kind is that of the frame the translation reached;
     * a guest that encodes privateness must reach a frame of the kind it asked for.
     */
    private void oracle(long gfn, boolean isPrivate, long pfn, boolean write, long token) {
        boolean reachedPrivate = vm.memory.ownerKind(pfn) == HostMemory.GMEM;
        if (source.guestEncodes() && reachedPrivate != isPrivate)
            vm.dataViolations.add(String.format("data: a %s access to gpa 0x%x reached a %s frame (pfn 0x%x)",
                    isPrivate ? "private" : "shared", gfn << 12, reachedPrivate ? "private" : "shared", pfn));
        if (write) {
            vm.expected.wrote(gfn, reachedPrivate, token);
            return;
        }
        long want = vm.expected.expected(gfn, reachedPrivate);
        if (token != want)
            vm.dataViolations.add(String.format("data: guest read of %s gpa 0x%x returned 0x%x, last written 0x%x",
                    reachedPrivate ? "private" : "shared", gfn << 12, token, want));
    }

    /** Outcome codes of {@link #touch}: {@link #DONE} or an exit / exception code. */
    private static final long DONE = 0, EXIT_MEMORY_FAULT = 1, EXIT_MMIO = 2, EXIT_DEAD = 3;
    private static final long EXCEPTION = 1L << 32;

    /**
     * One 4K access: TLB, else the walk; on a violation exit guest mode, run the fault handler, and retry as the
     * hardware re-executes the instruction.
     */
    private long touch(Vcpu v, Access access, long guestGpa, long gfn, boolean isPrivate, long token) {
        boolean write = access == Access.WRITE, exec = access == Access.EXEC;
        boolean encrypted = isPrivate && source == PrivateSource.ERROR_CODE;
        long key = Tlb.key(guestGpa >>> 12, encrypted);
        for (int retries = 0;; retries++) {
            if (vm.dead())
                return EXIT_DEAD;
            vm.loadRoots(v);
            vm.guestMode.enter(v);
            long cached = v.tlb.lookup(key);
            long pfn;
            if (cached != -1 && (!write || (cached & Tlb.W) != 0) && (!exec || (cached & Tlb.X) != 0)) {
                pfn = Tlb.pfn(cached);
            } else {
                long w = translate(v, guestGpa, gfn, isPrivate, access);
                if (!Walk.isTranslated(w)) {
                    vm.guestMode.exit(v);
                    long outcome = violation(v, w, guestGpa, gfn, encrypted);
                    if (outcome != DONE)
                        return outcome;
                    if (retries > MAX_RETRIES)
                        throw new MmuException(Errno.EAGAIN, "vCPU %d: the access to gpa 0x%x never completed",
                                v.id, guestGpa);
                    if ((retries & 63) == 63)
                        Thread.yield();
                    continue;
                }
                pfn = Walk.pfn(w);
                v.tlb.insert(key, pfn, write, exec);
            }
            if (write)
                vm.memory.write(pfn, token);
            else
                v.lastRead = vm.memory.read(pfn);
            oracle(gfn, isPrivate, pfn, write, write ? token : v.lastRead);
            vm.guestMode.exit(v);
            return DONE;
        }
    }

    /** The hardware walk, then the backend's checks after it (e.g. reverse-map checks). */
    private long translate(Vcpu v, long guestGpa, long gfn, boolean isPrivate, Access access) {
        mmu.rcu.readLock();
        try {
            long w = walk(v, guestGpa >>> 12, gfn, isPrivate, access);
            if (Walk.isTranslated(w))
                w = vm.backend().checkAccess(v.id, gfn, Walk.pfn(w), Walk.level(w), isPrivate, access);
            return w;
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** The walk alone, for an instruction's operand ({@link org.tdplab.mmu.api.backend.VmContext#nestedWalk}). */
    long nestedWalk(Vcpu v, long gfn, boolean isPrivate) {
        long guestGfn = gfn | (isPrivate ? 0 : sharedBitMask >>> 12);
        mmu.rcu.readLock();
        try {
            return walk(v, guestGfn, gfn, isPrivate, Access.READ);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** The hardware walk: the backend's table for private GPAs of mirrored VMs, else the direct root. */
    private long walk(Vcpu v, long guestGfn, long gfn, boolean isPrivate, Access access) {
        boolean write = access == Access.WRITE, exec = access == Access.EXEC;
        if (vm.caps.mirroredPt() && isPrivate) {
            long w = vm.backend().translatePrivate(v.id, gfn, access);
            return w != Walk.NOT_HANDLED ? w : HardwareWalk.walk(mmu, v.walker, v.mirrorRoot, gfn, write, exec);
        }
        return HardwareWalk.walk(mmu, v.walker, v.directRoot, guestGfn, write, exec);
    }

    /** Handles a failed translation: faults go to KVM; exceptions to the guest; a fatal outcome kills the VM. */
    private long violation(Vcpu v, long w, long guestGpa, long gfn, boolean encrypted) {
        switch (Walk.kind(w)) {
        case Walk.KIND_VIOLATION -> {
            return switch (exitFault(v, guestGpa, gfn, Walk.detail(w), encrypted)) {
            case FaultHandler.EXIT_MEMORY_FAULT -> EXIT_MEMORY_FAULT;
            case FaultHandler.EXIT_MMIO -> EXIT_MMIO;
            case FaultHandler.EXIT_DEAD -> EXIT_DEAD;
            case RET_PF_EMULATE -> EXIT_MMIO;
            default -> DONE;
            };
        }
        case Walk.KIND_EXCEPTION -> {
            return EXCEPTION | Walk.detail(w);
        }
        default -> {
            vm.kill("vCPU " + v.id + ": the guest cannot go on at gpa 0x" + Long.toHexString(guestGpa));
            return EXIT_DEAD;
        }
        }
    }

    /**
     * The EPT/NPT-violation exit handler: the fault handler (which lets the backend act on its own error-code bits
     * first, e.g. a guest's accept level), then the backend's follow-up once the fault is resolved (e.g. a
     * reverse-map violation).
     */
    private int exitFault(Vcpu v, long guestGpa, long gfn, long errorCode, boolean encrypted) {
        long vendorBits = ErrorCode.vendorBits(errorCode);
        int r = vm.faults.handle(v, guestGpa, errorCode, encrypted, false);
        if (r >= 0 && r != RET_PF_EMULATE && vendorBits != 0)
            vm.backend().violationHandled(v.id, gfn, vendorBits);
        return r;
    }

    /** One exit replayed from a trace: {@code PFERR_PRIVATE_ACCESS} in the error code says the access was private. */
    Vm.FaultResult fault(Vcpu v, long gpa, long errorCode) {
        if (gpa < 0 || gpa >= 1L << vm.caps.gpaw())
            throw new MmuException(Errno.EINVAL, "gpa=0x%x lies beyond gpaw=%d", gpa, vm.caps.gpaw());
        boolean encrypted = (errorCode & ErrorCode.PRIVATE_ACCESS) != 0 && source == PrivateSource.ERROR_CODE;
        long gfn = (gpa & ~sharedBitMask) >>> 12;
        vm.loadRoots(v);
        int r = exitFault(v, gpa, gfn, errorCode & ~ErrorCode.PRIVATE_ACCESS, encrypted);
        return switch (r) {
        case FaultHandler.EXIT_MEMORY_FAULT -> Vm.FaultResult.MEMORY_FAULT;
        case FaultHandler.EXIT_MMIO -> Vm.FaultResult.MMIO;
        case FaultHandler.EXIT_DEAD -> Vm.FaultResult.DEAD;
        default -> Vm.FaultResult.valueOf(org.tdplab.mmu.tdp.mmu.PageFault.name(r));
        };
    }

    private AccessResult ended(Vcpu v, long pages, long outcome) {
        if ((outcome & EXCEPTION) != 0)
            return AccessResult.exception(pages, Walk.exceptionName(outcome & ~EXCEPTION));
        Exit exit;
        if (outcome == EXIT_MEMORY_FAULT) {
            mmu.stats.inc(Stat.EXITS_MEMORY_FAULT);
            exit = new Exit(Exit.Reason.MEMORY_FAULT, v.exitGpa, 4096, v.exitPrivate, "KVM_EXIT_MEMORY_FAULT");
        } else if (outcome == EXIT_MMIO) {
            mmu.stats.inc(Stat.EXITS_MMIO);
            exit = new Exit(Exit.Reason.MMIO, v.exitGpa, 0, false, "KVM_EXIT_MMIO: no memslot, or a read-only one");
        } else {
            exit = new Exit(Exit.Reason.VM_DEAD, 0, 0, false, "VM is dead: " + vm.deadReason().orElse("?"));
        }
        vm.trace.exit(v.id, exit);
        return AccessResult.exit(pages, exit);
    }

    // ---- conversion and acceptance -------------------------------------------------------------------------

    /**
     * The guest's conversion protocol, and the {@code KVM_HC_MAP_GPA_RANGE} exit handled as QEMU does: set the
     * attributes, then discard the backing of the old kind, so a page converted away and back reads zero.
     */
    AccessResult convert(Vcpu v, boolean toPrivate, long gpa, long size) {
        AccessResult done = mapGpaRange(v, toPrivate, gpa, size);
        // a Linux guest accepts (validates) what it just made private before using it
        if (!done.completed() || !toPrivate || !vm.caps.acceptance())
            return done;
        long first = (gpa & ~sharedBitMask) >>> 12;
        return acceptRange(v, first, first + done.pages());
    }

    /** The conversion request and the VMM's handling of it; the trace records it as one operation. */
    AccessResult mapGpaRange(Vcpu v, boolean toPrivate, long gpa, long size) {
        return vm.ops.call(() -> OperationStream.mapGpaRange(v.id, gpa, size, toPrivate),
                () -> mapGpaRangeNow(v, toPrivate, gpa, size));
    }

    private AccessResult mapGpaRangeNow(Vcpu v, boolean toPrivate, long gpa, long size) {
        if (!vm.caps.privateMem())
            throw new MmuException(Errno.EINVAL, "VM type %s has no private memory to convert", vm.type());
        long natural = gpa & ~sharedBitMask;
        long[] r = vm.host().gfnRange("convert", natural, size);
        vm.backend().convertBefore(v.id, r[0], r[1] - r[0], toPrivate);
        vm.host().setMemoryAttributes(natural, size, toPrivate);
        vm.slotsLock.lock();
        try {
            if (toPrivate)
                vm.host().discardShared(r[0], r[1]);
            else
                vm.host().punch(r[0], r[1], false);
        } finally {
            vm.slotsLock.unlock();
        }
        vm.backend().convertAfter(v.id, r[0], r[1] - r[0], toPrivate);
        if (vm.dead())
            return ended(v, 0, EXIT_DEAD);
        return AccessResult.done(r[1] - r[0], true, 0);
    }

    /**
     * How a Linux guest accepts a range it converted: aligned 2M runs at 2M, the rest at 4K (the backend falls
     * back to 4K itself when the page is mapped smaller).
     */
    private AccessResult acceptRange(Vcpu v, long start, long end) {
        long huge = PageSize.SIZE_2M.bytes() >>> 12;
        for (long gfn = start; gfn < end;) {
            PageSize level = (gfn & (huge - 1)) == 0 && end - gfn >= huge ? PageSize.SIZE_2M : PageSize.SIZE_4K;
            long pages = level.bytes() >>> 12;
            AccessResult r = accept(v, gfn << 12, level.bytes(), level);
            if (!r.completed())
                return new AccessResult(gfn - start + r.pages(), r.exit(), r.exception(), true, 0);
            gfn += pages;
        }
        return AccessResult.done(end - start, true, 0);
    }

    /**
     * The guest's accept / validate instruction, re-executed after KVM maps a missing entry. The trace records
     * what was accepted once it is done, after the faults the instruction took.
     */
    AccessResult accept(Vcpu v, long gpa, long size, PageSize level) {
        AccessResult r = acceptNow(v, gpa, size, level);
        if (vm.trace.on() && r.pages() > 0 && !vm.ops.inside())
            vm.trace.operation(OperationStream.accept(v.id, gpa, r.pages() << 12, level));
        return r;
    }

    private AccessResult acceptNow(Vcpu v, long gpa, long size, PageSize level) {
        if (!vm.caps.acceptance())
            throw new MmuException(Errno.ENOTSUP, "VM type %s has no guest acceptance", vm.type());
        long natural = gpa & ~sharedBitMask;
        long[] r = vm.host().gfnRange("accept", natural, size);
        long step = level.bytes() >>> 12;
        if ((r[0] & (step - 1)) != 0 || ((r[1] - r[0]) & (step - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "accept gpa=0x%x size=0x%x is not %s-aligned", gpa, size,
                    level.label());
        for (long gfn = r[0]; gfn < r[1]; gfn += step) {
            for (int retries = 0;; retries++) {
                if (vm.dead())
                    return ended(v, gfn - r[0], EXIT_DEAD);
                vm.loadRoots(v);
                v.operandGfn = -1;
                long w = vm.backend().accept(v.id, gfn, level.level());
                if (Walk.isTranslated(w))
                    break;
                // the instruction faulted on the operand it was translating (a 4K retry inside a 2M accept, say)
                long at = v.operandGfn >= 0 ? v.operandGfn : gfn;
                long outcome = violation(v, w, at << 12, at, source == PrivateSource.ERROR_CODE);
                if (outcome != DONE)
                    return ended(v, gfn - r[0], outcome);
                if (retries > MAX_RETRIES)
                    throw new MmuException(Errno.EAGAIN, "accept of gpa 0x%x never completed", gfn << 12);
            }
        }
        return AccessResult.done(r[1] - r[0], true, 0);
    }

    // ---- KVM_PRE_FAULT_MEMORY ------------------------------------------------------------------------------

    /** Maps the range as faults would; returns the bytes left unmapped when it stopped after some progress. */
    long prefault(Vcpu v, long gpa, long size) {
        if (!vm.preFaultAllowed())
            throw new MmuException(Errno.ENOTSUP, "KVM_PRE_FAULT_MEMORY is not allowed on VM '%s' yet", vm.name());
        if (sharedBitMask != 0 && (gpa & sharedBitMask) != 0)
            throw new MmuException(Errno.EINVAL, "prefault gpa=0x%x is an alias (it has the shared bit)", gpa);
        long[] r = vm.host().gfnRange("prefault", gpa, size);
        long gfn = r[0];
        while (gfn < r[1]) {
            boolean isPrivate = vm.caps.privateMem() && vm.attributes.isPrivate(gfn);
            long faultGpa = (gfn << 12) | (isPrivate ? 0 : sharedBitMask);
            vm.loadRoots(v);
            int ret = vm.faults.handle(v, faultGpa, ErrorCode.USER, isPrivate, true);
            Errno error = switch (ret) {
            case RET_PF_FIXED, RET_PF_SPURIOUS, RET_PF_WRITE_PROTECTED -> null;
            case RET_PF_RETRY -> null;
            case RET_PF_EMULATE, FaultHandler.EXIT_MMIO -> Errno.ENOENT;
            case FaultHandler.EXIT_MEMORY_FAULT -> Errno.EFAULT;
            default -> Errno.EIO;
            };
            if (error != null) {
                if (gfn == r[0])
                    throw new MmuException(error, "prefault at gpa 0x%x: %s", gfn << 12,
                            error == Errno.ENOENT ? "no memslot (the access would be emulated)" : "could not map");
                return (r[1] - gfn) << 12;
            }
            if (ret == RET_PF_RETRY)
                continue;
            int level = v.fault.goalLevel;
            gfn = Spte.gfnRoundForLevel(gfn, level) + Spte.pagesPerHpage(level);
        }
        return 0;
    }
}
