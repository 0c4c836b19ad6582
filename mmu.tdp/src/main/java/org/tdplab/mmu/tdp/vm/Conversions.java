package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** The guest's side of private memory: converting ranges (and the VMM's handling of it) and accepting pages. */
final class Conversions {
    private final VmStatus status;
    private final VmMemory mem;
    private final TdpMmu mmu;
    private final BackendSlot gate;
    private final HostOps host;
    private final GuestOps guest;
    private final Tracer trace;
    private final OperationStream ops;

    Conversions(VmStatus status, VmMemory mem, TdpMmu mmu, BackendSlot gate, HostOps host, GuestOps guest,
            Tracer trace, OperationStream ops) {
        this.status = status;
        this.mem = mem;
        this.mmu = mmu;
        this.gate = gate;
        this.host = host;
        this.guest = guest;
        this.trace = trace;
        this.ops = ops;
    }

    /**
     * The guest's conversion protocol, and the {@code KVM_HC_MAP_GPA_RANGE} exit handled as QEMU does: set the
     * attributes, then discard the backing of the old kind, so a page converted away and back reads zero — unless
     * the VM shares in place ({@code sharedInPlace}): then the one guest_memfd page stays, with its data.
     */
    AccessResult convert(Vcpu v, boolean toPrivate, long gpa, long size) {
        AccessResult done = mapGpaRange(v, toPrivate, gpa, size);
        // a Linux guest accepts (validates) what it just made private before using it
        if (!done.completed() || !toPrivate || !mmu.caps.acceptance())
            return done;
        long first = mmu.routing.naturalGfn(gpa);
        return acceptRange(v, first, first + done.pages());
    }

    /** The conversion request and the VMM's handling of it; the trace records it as one operation. */
    AccessResult mapGpaRange(Vcpu v, boolean toPrivate, long gpa, long size) {
        return ops.call(() -> OperationStream.mapGpaRange(v.id, gpa, size, toPrivate),
                () -> mapGpaRangeNow(v, toPrivate, gpa, size));
    }

    private void vmmHandlesMapGpaRange(boolean toPrivate, long natural, long size, long[] r) {
        host.setMemoryAttributes(natural, size, toPrivate);
        if (mmu.caps.sharedInPlace())
            return;
        mem.slotsLock.lock();
        try {
            if (toPrivate)
                host.discardShared(r[0], r[1]);
            else
                host.punch(r[0], r[1], false);
        } finally {
            mem.slotsLock.unlock();
        }
    }

    private AccessResult mapGpaRangeNow(Vcpu v, boolean toPrivate, long gpa, long size) {
        if (!mmu.caps.privateMem())
            throw new MmuException(Errno.EINVAL, "VM type %s has no private memory to convert", status.type);
        long natural = mmu.routing.naturalGpa(gpa);
        long[] r = Ranges.gfnRange("convert", natural, size, mmu.caps.maxGfn());
        guest.requireRunnable(v);
        AccessResult failed = guest.failedEntry(v);
        if (failed != null)
            return failed;
        gate.backend().convertBefore(v.id, r[0], r[1] - r[0], toPrivate);
        // the exit returns from KVM_RUN, which drops vcpu->mutex: the VMM's ioctls take slots_lock on their own, and
        // holding the vCPU across them would invert the kernel's order (vcpu->mutex, then slots_lock) against a
        // vCPU ioctl that populates memory under slots_lock (a deadlock the soak found)
        int held = v.mutex.releaseAll();
        try {
            vmmHandlesMapGpaRange(toPrivate, natural, size, r);
        } finally {
            v.mutex.relock(held);
        }
        gate.backend().convertAfter(v.id, r[0], r[1] - r[0], toPrivate);
        if (status.dead())
            return guest.exits.ended(v, 0, GuestExits.EXIT_DEAD);
        return done(r[1] - r[0]);
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
        return done(end - start);
    }

    /**
     * The guest's accept / validate instruction, re-executed after KVM maps a missing entry. The trace records
     * what was accepted once it is done, after the faults the instruction took.
     */
    AccessResult accept(Vcpu v, long gpa, long size, PageSize level) {
        AccessResult r = acceptNow(v, gpa, size, level);
        if (trace.on() && r.pages() > 0 && !ops.inside())
            trace.operation(OperationStream.accept(v.id, gpa, r.pages() << 12, level));
        return r;
    }

    /** The results of a whole 4K and 2M conversion or accept: immutable, so shared rather than made per page. */
    private static final AccessResult DONE_4K = AccessResult.done(1, true, 0),
            DONE_2M = AccessResult.done(512, true, 0);

    private static AccessResult done(long pages) {
        return pages == 1 ? DONE_4K : pages == 512 ? DONE_2M : AccessResult.done(pages, true, 0);
    }

    private AccessResult acceptNow(Vcpu v, long gpa, long size, PageSize level) {
        long natural = checkAccept(v, gpa, size, level);
        AccessResult failed = guest.failedEntry(v);
        if (failed != null)
            return failed;
        long first = natural >>> 12, end = (natural + size) >>> 12;
        long step = level.bytes() >>> 12;
        for (long gfn = first; gfn < end; gfn += step) {
            Retries.start(v);
            for (;;) {
                if (status.dead())
                    return guest.exits.ended(v, gfn - first, GuestExits.EXIT_DEAD);
                v.loadRoots(mmu.roots);
                v.operandGfn = -1;
                long w = gate.backend().accept(v.id, gfn, level.level());
                if (Walk.isTranslated(w))
                    break;
                long outcome = acceptFaulted(v, gfn, w);
                if (outcome != GuestExits.DONE)
                    return guest.exits.ended(v, gfn - first, outcome);
            }
        }
        return done(end - first);
    }

    /**
     * The accept's checks, before anything changes: the VM type accepts, {@code gpa} is private, the range is in the
     * GPA space and {@code level}-aligned, the vCPU may run. Returns the range's natural GPA.
     */
    private long checkAccept(Vcpu v, long gpa, long size, PageSize level) {
        if (!mmu.caps.acceptance())
            throw new MmuException(Errno.ENOTSUP, "VM type %s has no guest acceptance", status.type);
        if (mmu.routing.hasSharedBit(gpa)) // the instruction takes a private GPA; the hardware refuses an alias
            throw new MmuException(Errno.EINVAL, "accept gpa=0x%x is in the shared alias (bit %d set): only private "
                    + "memory is accepted", gpa, Long.numberOfTrailingZeros(mmu.routing.sharedBitMask));
        long natural = mmu.routing.naturalGpa(gpa);
        Ranges.checkPages("accept", natural, size, mmu.caps.maxGfn()); // no array per accept: it is every fault of a TD
        long first = natural >>> 12, end = (natural + size) >>> 12;
        guest.requireRunnable(v);
        long step = level.bytes() >>> 12;
        if ((first & (step - 1)) != 0 || ((end - first) & (step - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "accept gpa=0x%x size=0x%x is not %s-aligned", gpa, size,
                    level.label());
        return natural;
    }

    /**
     * The accept of {@code gfn} faulted on the operand it was translating (the page itself, or a 4K retry inside a 2M
     * accept): the exit and its handling. {@link GuestExits#DONE} when the instruction is to run again.
     */
    private long acceptFaulted(Vcpu v, long gfn, long w) {
        long at = v.operandGfn >= 0 ? v.operandGfn : gfn;
        long outcome = guest.exits.violation(v, w, at << 12, at, mmu.routing.encryptedAccess(true));
        if (outcome != GuestExits.DONE)
            return outcome;
        if (Retries.giveUp(v))
            throw Retries.neverCompleted(v, "accept of", gfn << 12, w, mmu.invalidation.describe());
        if (v.waitingSince != 0)
            Retries.waitAWhile();
        return GuestExits.DONE;
    }
}
