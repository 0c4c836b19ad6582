package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.OperandInstruction;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mmu.Routing;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.sync.StripedRwLock;
import org.tdplab.mmu.tdp.vcpu.GuestMode;
import org.tdplab.mmu.tdp.vcpu.HardwareWalk;
import org.tdplab.mmu.tdp.vcpu.Tlb;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** What a vCPU does to memory: touch it through its TLB and the hardware walk, exiting to KVM on a violation. */
final class GuestOps {
    /**
     * Loads {@link Exit} with the VM: the JIT inlines a constructor only once the classes its signature names are
     * loaded, and {@link AccessResult}'s names {@link Exit}, which nothing else loads before a guest's first exit.
     * Until then every completed access would allocate its result (40 bytes per page touched), the constructor being
     * a call it cannot see through.
     */
    @SuppressWarnings("unused")
    private static final Class<?> RESULT_SIGNATURE = Exit.class;

    private final VmStatus status;
    private final Vcpus vcpus;
    private final VmMemory mem;
    private final TdpMmu mmu;
    private final GuestMode guestMode;
    private final BackendSlot gate;
    /** How an access that did not complete ends: KVM's fault handler, an exception, an exit to userspace. */
    final GuestExits exits;
    private final PrivateSource source;
    private final Routing routing;
    /** {@link #hooks()}'s last answer; written by any vCPU thread, only when the backend changed. */
    private AccessHooks hooks = AccessHooks.NONE;

    GuestOps(VmStatus status, Vcpus vcpus, VmMemory mem, TdpMmu mmu, GuestMode guestMode, BackendSlot gate,
            FaultHandler faults, Tracer trace) {
        this.status = status;
        this.vcpus = vcpus;
        this.mem = mem;
        this.mmu = mmu;
        this.guestMode = guestMode;
        this.gate = gate;
        this.exits = new GuestExits(status, mmu, gate, faults, trace);
        this.source = mmu.caps.privateSource();
        this.routing = mmu.routing;
        for (Vcpu v : vcpus.all)
            v.thread.attach(mmu.rcu, mem.srcu, mmu.lock, gate.lock());
    }

    // ---- accesses -----------------------------------------------------------------------------------------

    /**
     * {@code KVM_RUN} for one guest access of {@code [gpa, gpa + size)} on vCPU {@code index}, through the backend
     * gate and under {@code vcpu->mutex}: how it ended, or null for a write that completed, whose result
     * {@link #written} makes from the arguments. The caller ({@link CoreVm#access}) builds that one itself: this
     * method is too large for the JIT to inline, and a result made here would escape to every caller, so each page a
     * guest touched would leave 40 bytes of garbage; one made by a small method that the caller's compile inlines
     * does not escape when the caller only asks whether it completed.
     */
    AccessResult run(int index, Access access, long gpa, long size, Encoding encoding, long value) {
        Vcpu v = enterVcpu(index);
        try {
            return runEntered(v, access, gpa, size, encoding, value);
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            exitVcpu(v);
        }
    }

    /** {@link #run} with the vCPU entered: the checks, then each page's access in turn. */
    private AccessResult runEntered(Vcpu v, Access access, long gpa, long size, Encoding encoding, long value) {
        checkEncoding(encoding);
        long natural = routing.naturalGpa(gpa);
        checkRange(gpa, size, natural);
        boolean aliasGiven = routing.hasSharedBit(gpa);
        long first = natural >>> 12, last = (natural + size - 1) >>> 12;
        AccessHooks h = hooks();
        String refusal = h.runRefusal ? h.backend.runRefusal(v.id) : null;
        Exit failed = h.failEntry ? h.backend.failEntry(v.id) : null;
        if ((refusal != null || failed != null) && anyPrivate(first, last, encoding, aliasGiven)) {
            if (refusal != null)
                throw runRefused(v, refusal);
            return exits.failedEntry(v, failed);
        }
        boolean agree = true;
        long firstValue = 0;
        for (long gfn = first; gfn <= last; gfn++) {
            boolean isPrivate = privateFor(gfn, encoding, aliasGiven);
            long guestGpa = routing.guestGpa(gfn, isPrivate);
            long token = access == Access.WRITE ? writtenToken(gfn, value) : 0;
            long result = touch(v, access, guestGpa, gfn, isPrivate, token);
            // the emulated access's own address, as run->mmio.phys_addr
            if (result == GuestExits.EXIT_MMIO && gfn == first)
                v.exitGpa = (v.exitGpa & ~0xfffL) | (natural & 0xfff);
            if (result != GuestExits.DONE)
                return exits.ended(v, gfn - first, result);
            long seen = access == Access.WRITE ? token : v.lastRead;
            if (gfn == first)
                firstValue = seen;
            else if (seen != firstValue)
                agree = false;
        }
        return access == Access.WRITE ? null : AccessResult.done(last - first + 1, agree, firstValue);
    }

    /** The backend's per-access hooks, found again when a swap brought another backend object. */
    private AccessHooks hooks() {
        AccessHooks h = hooks;
        VmBackend b = gate.backend();
        return h.backend == b ? h : (hooks = AccessHooks.of(b));
    }

    /** The access's range as written lies within the GPA width, and its natural GPAs below the shared bit. */
    private void checkRange(long gpa, long size, long natural) {
        if (size == 0)
            throw new MmuException(Errno.EINVAL, "size=0x%x must be positive", size);
        if (Long.compareUnsigned(gpa + size, gpa) <= 0
                || Long.compareUnsigned(gpa + size, 1L << mmu.caps.gpaw()) > 0
                || Long.compareUnsigned(natural + size, mmu.caps.maxGfn() << 12) > 0)
            throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x wraps or lies beyond gpaw=%d", gpa, size,
                    mmu.caps.gpaw());
    }

    /** The token a write of {@code value} stores in page {@code gfn} (natural). */
    private static long writtenToken(long gfn, long value) {
        return value != Vm.DEFAULT_TOKEN ? value : TokenMap.defaultToken(gfn);
    }

    /**
     * The result of a write {@link #run} completed: every page written, the first page's token as the value, and
     * the tokens agreeing unless each page got its own (the default token, over more than one page). Made from the
     * arguments alone, which {@link #run} checked.
     */
    AccessResult written(long gpa, long size, long value) {
        long natural = routing.naturalGpa(gpa);
        long first = natural >>> 12, pages = ((natural + size - 1) >>> 12) - first + 1;
        return AccessResult.done(pages, value != Vm.DEFAULT_TOKEN || pages == 1, writtenToken(first, value));
    }

    /**
     * {@code vcpu->mutex} for a guest access or accept (one per page in a workload), without a lambda: the gate's
     * read side, the liveness check and the mutex; {@link #exitVcpu} undoes it.
     */
    Vcpu enterVcpu(int index) {
        Vcpu v;
        Vcpu[] all = vcpus.all;
        StripedRwLock.Holder g = index >= 0 && index < all.length ? all[index].thread.gate() : gate.lock().holder();
        gate.enterBeforeFence(g); // the mutex's compare-and-set is the gate's fence: one fence for both
        try {
            status.requireAlive();
            v = vcpus.get(index, status.name);
            v.mutex.lockFenced();
        } catch (RuntimeException e) {
            gate.exit(g);
            throw e;
        }
        v.thread.mine();
        if (gate.enterAfterFence(g))
            return v;
        v.mutex.unlock(); // a swap is under way: wait for it outside the mutex, as an ioctl waits at the gate
        gate.enter();
        try {
            status.requireAlive();
            v.mutex.lock();
            v.thread.mine(); // another thread may have run the vCPU while the mutex was let go: its records are bound
            return v;
        } catch (RuntimeException e) {
            gate.exit();
            throw e;
        }
    }

    void exitVcpu(Vcpu v) {
        StripedRwLock.Holder g = v.thread.gate(); // before the mutex: then still this thread's record
        v.mutex.unlock();
        gate.exit(g);
    }

    private boolean anyPrivate(long first, long last, Encoding encoding, boolean aliasGiven) {
        for (long gfn = first; gfn <= last; gfn++)
            if (privateFor(gfn, encoding, aliasGiven))
                return true;
        return false;
    }

    /** The VM type's pre-run check ({@link org.tdplab.mmu.api.backend.VmBackend#runRefusal}): EINVAL, nothing done. */
    void requireRunnable(Vcpu v) {
        String why = gate.backend().runRefusal(v.id);
        if (why != null)
            throw runRefused(v, why);
    }

    /**
     * The entry, after {@link #requireRunnable} ({@link org.tdplab.mmu.api.backend.VmBackend#failEntry}): the
     * run's {@code KVM_EXIT_FAIL_ENTRY} when it fails, else null.
     */
    AccessResult failedEntry(Vcpu v) {
        Exit failed = gate.backend().failEntry(v.id);
        return failed == null ? null : exits.failedEntry(v, failed);
    }

    private static MmuException runRefused(Vcpu v, String why) {
        return new MmuException(Errno.EINVAL, "KVM_RUN on vCPU %d: %s", v.id, why);
    }

    private void checkEncoding(Encoding encoding) {
        if (encoding == Encoding.CURRENT)
            return;
        if (source == PrivateSource.ATTRIBUTES)
            throw new MmuException(Errno.EINVAL, "VM type %s takes privateness from attributes alone: the guest has "
                    + "no '%s' encoding", status.type, encoding.name().toLowerCase());
        if (source == PrivateSource.NONE && encoding == Encoding.PRIVATE)
            throw new MmuException(Errno.EINVAL, "VM type %s has no private memory", status.type);
    }

    private boolean privateFor(long gfn, Encoding encoding, boolean aliasGiven) {
        if (source == PrivateSource.NONE)
            return false;
        if (encoding == Encoding.PRIVATE)
            return true;
        if (encoding == Encoding.SHARED || aliasGiven)
            return false;
        return mem.attributes.isPrivate(gfn);
    }

    /**
     * The data oracle, consulted inside guest mode so that a discard (which first flushes, waiting for vCPUs to
     * leave guest mode) is ordered with the access. The page's kind is that of the frame the translation reached;
     * a guest that encodes privateness must reach a frame of the kind it asked for.
     */
    private void checkKind(long gfn, boolean isPrivate, boolean reachedPrivate, long pfn, boolean walked) {
        if (source.guestEncodes() && reachedPrivate != isPrivate && !sharedAccessToPrivatePage(gfn, isPrivate,
                reachedPrivate, walked))
            mem.dataViolations.add(String.format("data: a %s access to gpa 0x%x reached a %s frame (pfn 0x%x)",
                    isPrivate ? "private" : "shared", gfn << 12, reachedPrivate ? "private" : "shared", pfn));
    }

    /** A read must return what was last written, unless a write of the page's leaf overlapped it. */
    private void checkRead(long gfn, boolean reachedPrivate, TokenMap.Leaf leaf, long token, long before) {
        long want = ExpectedMemory.expected(leaf, gfn); // no leaf yet: 0; a write that makes one leaves it unjudged
        if (token != want && mem.expected.judgeable(gfn, reachedPrivate, before))
            mem.dataViolations.add(String.format("data: guest read of %s gpa 0x%x returned 0x%x, last written 0x%x",
                    reachedPrivate ? "private" : "shared", gfn << 12, token, want));
    }

    /**
     * A shared-encoded access that reached the private frame the one table of both encodings maps now, by a walk
     * made in this guest-mode section: the hardware's own checks (the backend's, after the walk) let it through —
     * e.g. a C-bit-clear read of a guest-owned page reads its ciphertext. The guest used a stale encoding (another
     * vCPU converted the page after the guest chose it, as the soak's threads do); that is not a stale translation.
     * A TLB hit is never excused: a shared translation that outlived a conversion is the missing flush the oracle
     * is there for. Attributes are read in guest mode: a conversion back to shared zaps, and so waits for this
     * vCPU to leave, before it sets them.
     */
    private boolean sharedAccessToPrivatePage(long gfn, boolean isPrivate, boolean reachedPrivate, boolean walked) {
        return walked && !isPrivate && reachedPrivate && routing.guestGpa(gfn, false) == routing.guestGpa(gfn, true)
                && !routing.followsMirror(true) && mem.attributes.isPrivate(gfn);
    }

    /**
     * One 4K access: TLB, else the walk; on a violation exit guest mode, run the fault handler, and retry as the
     * hardware re-executes the instruction. One RCU read section spans it all: the walks and the fault's map nest
     * in it (a nested section costs no fence), and nothing on the way waits for a grace period (only the teardown
     * does, and it waits for no lock a fault holds). Only while the access waits for another operation over its
     * page ({@link Retries#giveUp}) is it out of the section, so a long wait holds up no grace period.
     */
    private long touch(Vcpu v, Access access, long guestGpa, long gfn, boolean isPrivate, long token) {
        Rcu.Reader r = v.thread.rcu; // enterVcpu found the thread's records
        mmu.rcu.readLockBeforeFence(r); // guestMode.enter's fence comes before the first walk's loads
        try {
            return touchLocked(v, access, guestGpa, gfn, isPrivate, token);
        } finally {
            mmu.rcu.readUnlock(r);
            if (!v.pml.isEmpty())
                v.pml.flush(this::markLoggedDirty); // the exit after the access flushes the vCPU's log
        }
    }

    /** {@code kvm_vcpu_mark_page_dirty} of a GFN the page-modification log held: only slots that log keep it. */
    private void markLoggedDirty(long gfn) {
        Memslot slot = mem.memslots.find(gfn);
        if (slot != null && slot.isDirtyLogging())
            slot.markDirty(gfn);
    }

    private long touchLocked(Vcpu v, Access access, long guestGpa, long gfn, boolean isPrivate, long token) {
        boolean write = access == Access.WRITE, exec = access == Access.EXEC;
        boolean encrypted = routing.encryptedAccess(isPrivate);
        long key = Tlb.key(guestGpa >>> 12, encrypted, routing.followsMirror(isPrivate));
        Retries.start(v);
        for (;;) {
            if (status.dead())
                return GuestExits.EXIT_DEAD;
            v.loadRoots(mmu.roots);
            guestMode.enter(v);
            long cached = v.tlb.lookup(key);
            long w = 0, pfn;
            boolean walked = !(cached != -1 && (!write || (cached & Tlb.W) != 0) && (!exec || (cached & Tlb.X) != 0));
            if (!walked) {
                pfn = Tlb.pfn(cached);
            } else {
                w = translate(v, guestGpa, gfn, isPrivate, access);
                pfn = Walk.isTranslated(w) ? Walk.pfn(w) : -1;
            }
            // the completed access before the violation's exit in the bytecode: the JIT inlines in that order, and
            // the fault handler inlined first used up the budget of this method, leaving each step below a call
            if (pfn >= 0) {
                if (walked)
                    v.tlb.insert(key, pfn, write, exec);
                boolean reachedPrivate = mem.host.ownerKind(pfn) == HostMemory.GMEM;
                checkKind(gfn, isPrivate, reachedPrivate, pfn, walked);
                if (write)
                    mem.expected.guestWrite(mem.host, gfn, reachedPrivate, pfn, token);
                else
                    readChecked(v, gfn, reachedPrivate, pfn);
                guestMode.exit(v);
                return GuestExits.DONE;
            }
            long outcome = violationExit(v, w, guestGpa, gfn, isPrivate, encrypted);
            if (outcome != GuestExits.DONE)
                return outcome;
        }
    }

    /**
     * The access's walk ended in a violation: the vCPU leaves guest mode and the exit is handled.
     * {@link GuestExits#DONE} when the access is to be tried again. A shared page's frame token is read first, while
     * the walk's miss of the leaf entry is pending: out of order the two misses otherwise came one after the other
     * (the access's token store stalled a later locked instruction). Not again within the last hint's 2M, whose lines
     * an in-order guest finds in the cache anyway.
     */
    private long violationExit(Vcpu v, long w, long guestGpa, long gfn, boolean isPrivate, boolean encrypted) {
        if (!isPrivate && (gfn ^ v.hintedGfn) >>> 9 != 0) {
            v.hintedGfn = gfn;
            v.hinted = mem.peekSharedToken(gfn);
        }
        guestMode.exit(v);
        long outcome = exits.violation(v, w, guestGpa, gfn, encrypted);
        if (outcome != GuestExits.DONE)
            return outcome;
        if (Retries.giveUp(v))
            throw Retries.neverCompleted(v, "access to", guestGpa, w, mmu.invalidation.describe());
        if (v.waitingSince != 0) {
            mmu.rcu.readUnlock(v.thread.rcu); // waiting for another operation: not in a section meanwhile
            Retries.waitAWhile();
            mmu.rcu.readLockBeforeFence(v.thread.rcu); // guestMode.enter's fence is next, before a walk
        }
        return GuestExits.DONE;
    }

    /** The read of the page at {@code pfn}, checked against what the oracle says the guest wrote there last. */
    private void readChecked(Vcpu v, long gfn, boolean reachedPrivate, long pfn) {
        TokenMap.Leaf leaf = mem.expected.leafOf(gfn, reachedPrivate);
        long before = ExpectedMemory.beforeRead(leaf);
        v.lastRead = mem.host.read(pfn);
        checkRead(gfn, reachedPrivate, leaf, v.lastRead, before);
    }

    /**
     * The hardware walk, then the backend's checks after it (e.g. reverse-map checks). Inside {@link #touch}'s RCU
     * read section, which keeps the tables the walk reads from being reused.
     */
    private long translate(Vcpu v, long guestGpa, long gfn, boolean isPrivate, Access access) {
        long w = walk(v, guestGpa >>> 12, gfn, isPrivate, access);
        AccessHooks h;
        if (Walk.isTranslated(w) && (h = hooks()).checkAccess)
            w = h.backend.checkAccess(v.id, gfn, Walk.pfn(w), Walk.level(w), isPrivate, access);
        return w;
    }

    /**
     * An instruction's operand: the walk, then the instruction (if any) on the frame it reached, in one guest-mode
     * section ({@link org.tdplab.mmu.api.backend.VmContext#executeOnOperand}), so that a zap's flush — which waits
     * for this vCPU to leave guest mode before the frame is freed — falls before both or after both.
     */
    long executeOnOperand(Vcpu v, long gfn, boolean isPrivate, OperandInstruction insn) {
        long guestGfn = routing.guestGpa(gfn, isPrivate) >>> 12;
        mmu.rcu.readLockBeforeFence(); // guestMode.enter's fence comes before the walk's loads
        guestMode.enter(v);
        try {
            long w = walk(v, guestGfn, gfn, isPrivate, Access.READ);
            if (insn != null && Walk.isTranslated(w))
                insn.execute(v.id, gfn, w);
            return w;
        } finally {
            guestMode.exit(v);
            mmu.rcu.readUnlock();
        }
    }

    /** The hardware walk: the backend's table for private GPAs of mirrored VMs, else the direct root. */
    private long walk(Vcpu v, long guestGfn, long gfn, boolean isPrivate, Access access) {
        boolean write = access == Access.WRITE, exec = access == Access.EXEC;
        if (!routing.followsMirror(isPrivate)) // the direct walk first in the bytecode, as the JIT inlines in order
            return HardwareWalk.walk(mmu, v.walker, v.pml, v.tlb, v.roots.direct, guestGfn, write, exec);
        long w = gate.backend().translatePrivate(v.id, gfn, access);
        return w != Walk.NOT_HANDLED ? w
                : HardwareWalk.walk(mmu, v.walker, v.pml, v.tlb, v.roots.mirror, gfn, write, exec);
    }
}
