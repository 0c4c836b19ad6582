package org.tdplab.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The kernel's own synchronization around one 4K fault on x86 (Linux 6.18, the kvm-x86 tree), for a second
 * reference beside the {@link Floor}: the floor's walk + allocate + CAS with exactly the kernel's locked instructions
 * per page, on memory shaped as the kernel's is — {@code kvm->srcu}'s counters one pair per CPU, the
 * {@code mmu_lock} qrwlock word of {@code struct kvm}, {@code vcpu->mode} and {@code vcpu->mutex}'s owner word of
 * {@code struct kvm_vcpu}. Each operation is named after the kernel function it stands for; what each costs on x86:
 * <ul>
 * <li>{@code srcu_read_lock} ({@code __srcu_read_lock}): {@code this_cpu_inc} of the CPU's lock count (one
 * unlocked {@code inc}) then {@code smp_mb()} ({@code lock addl $0} on the stack, what {@link VarHandle#fullFence}
 * compiles to); {@code srcu_read_unlock}: {@code smp_mb()} then {@code this_cpu_inc} of the unlock count.</li>
 * <li>{@code read_lock(&kvm->mmu_lock)} ({@code queued_read_lock}): {@code atomic_add_return_acquire(_QR_BIAS)}, a
 * {@code lock xadd}, and the writer-bits test; {@code read_unlock}: {@code atomic_sub_return_release}, another.</li>
 * <li>{@code mutex_lock_killable(&vcpu->mutex)} (fast path {@code __mutex_trylock_fast}): a {@code lock cmpxchg} of
 * the owner word, 0 to the task; {@code mutex_unlock} ({@code __mutex_unlock_fast}): the task back to 0.</li>
 * <li>{@code vcpu->mode}: {@code smp_store_release(&vcpu->mode, IN_GUEST_MODE)} at entry and
 * {@code vcpu->mode = OUTSIDE_GUEST_MODE; smp_wmb()} at exit are plain stores on x86 (TSO); the full barrier that
 * orders the entry's store before the check of {@code vcpu->requests} is the {@code srcu_read_unlock} right after
 * it ({@code smp_mb__after_srcu_read_unlock} is empty). {@code smp_store_mb(vcpu->mode, ...)} is other
 * architectures' entry, not x86's.</li>
 * </ul>
 * Not counted, though on the path: the atomics of the host page ({@code hva_to_pfn}'s GUP-fast reference and
 * {@code kvm_release_faultin_page}'s put, guest_memfd's folio lock for private memory), {@code kvm_update_page_stats}'s
 * {@code atomic64_add} per leaf installed and the per-table accounting (the model's statistics are per-vCPU counters,
 * no atomics), and {@code vcpu_load}/{@code vcpu_put}. One thread runs it: nothing is contended.
 */
final class KernelSync {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle CNTS, MODE, OWNER;
    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            CNTS = l.findVarHandle(Kvm.class, "mmuLockCnts", int.class);
            MODE = l.findVarHandle(KvmVcpu.class, "mode", int.class);
            OWNER = l.findVarHandle(KvmVcpu.class, "mutexOwner", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** {@code _QR_BIAS} and {@code _QW_WMASK} of the queued rwlock. */
    private static final int QR_BIAS = 1 << 9, QW_WMASK = 0x1ff;
    /** {@code vcpu->mode}'s values. */
    static final int OUTSIDE_GUEST_MODE = 0, IN_GUEST_MODE = 1;
    /** Longs between two CPUs' {@code srcu_data} (cache-line aligned in the kernel; two lines apart here). */
    private static final int CPU_STRIDE = 16;

    /** {@code struct kvm}: the word of its {@code mmu_lock}. */
    static final class Kvm {
        volatile int mmuLockCnts;
        /** {@code kvm->srcu.srcu_ctrp}: which of the two counter pairs readers count in (flipped by a grace period). */
        int srcuIdx;
    }

    /** {@code struct kvm_vcpu}: its mode and its mutex's owner word. */
    static final class KvmVcpu {
        volatile int mode;
        volatile long mutexOwner;
    }

    final Kvm kvm = new Kvm();
    final KvmVcpu vcpu = new KvmVcpu();
    /** {@code kvm->srcu}'s per-CPU {@code srcu_ctrs[2]}, each {@code {srcu_locks, srcu_unlocks}}. */
    private final long[] srcu;
    private final int cpu;
    /** {@code current}: the task that takes {@code vcpu->mutex}. */
    private final long task;
    /** The srcu index the vCPU holds ({@code vcpu->____srcu_idx}). */
    private int srcuIdx;

    KernelSync() {
        int cpus = Runtime.getRuntime().availableProcessors();
        srcu = new long[(cpus + 1) * CPU_STRIDE];
        @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
        long id = Thread.currentThread().getId();
        cpu = (int) (id % cpus) + 1; // the thread stays on "its" CPU; slot 0 left as padding
        task = id << 4 | 1;
    }

    /**
     * One {@code KVM_RUN} in which the guest's access of page {@code gfn} exits once on the EPT violation and, the
     * fault handled, re-enters and completes: 10 locked instructions (2 {@code lock cmpxchg}, 6 {@code smp_mb}, 2
     * {@code lock xadd}) around the floor's walk + allocate + CAS. The model's guest write, accept and workload
     * touch are each a {@code KVM_RUN} of one page.
     */
    void run(Floor floor, long gfn, long pfn) {
        mutexLock();              // kvm_vcpu_ioctl: mutex_lock_killable(&vcpu->mutex)
        srcuReadLock();           // kvm_arch_vcpu_ioctl_run: kvm_vcpu_srcu_read_lock(vcpu)
        enterGuest();             // vcpu_enter_guest: the access's entry
        exitGuest();              // vcpu_enter_guest: the EPT violation's exit
        readLock();               // kvm_tdp_mmu_page_fault: read_lock(&kvm->mmu_lock)
        floor.map(gfn, pfn);      // kvm_tdp_mmu_map: walk + allocate + CAS
        readUnlock();             // kvm_tdp_mmu_page_fault: read_unlock(&kvm->mmu_lock)
        enterGuest();             // vcpu_enter_guest: the re-entry after the fault
        exitGuest();              // vcpu_enter_guest: the exit that ends this KVM_RUN
        srcuReadUnlock();         // kvm_arch_vcpu_ioctl_run: kvm_vcpu_srcu_read_unlock(vcpu)
        mutexUnlock();            // kvm_vcpu_ioctl: mutex_unlock(&vcpu->mutex)
    }

    /**
     * One {@code KVM_PRE_FAULT_MEMORY} of page {@code gfn}: no guest entry, 6 locked instructions (2 {@code lock
     * cmpxchg}, 2 {@code smp_mb}, 2 {@code lock xadd}) around the floor's walk + allocate + CAS.
     */
    void preFault(Floor floor, long gfn, long pfn) {
        mutexLock();              // kvm_vcpu_ioctl: mutex_lock_killable(&vcpu->mutex)
        srcuReadLock();           // kvm_vcpu_pre_fault_memory: kvm_vcpu_srcu_read_lock(vcpu)
        readLock();               // kvm_tdp_map_page -> kvm_tdp_mmu_page_fault: read_lock(&kvm->mmu_lock)
        floor.map(gfn, pfn);      // kvm_tdp_mmu_map
        readUnlock();             // read_unlock(&kvm->mmu_lock)
        srcuReadUnlock();         // kvm_vcpu_pre_fault_memory: kvm_vcpu_srcu_read_unlock(vcpu)
        mutexUnlock();            // kvm_vcpu_ioctl: mutex_unlock(&vcpu->mutex)
    }

    /** vcpu_enter_guest before VM entry: smp_store_release(&vcpu->mode, IN_GUEST_MODE); kvm_vcpu_srcu_read_unlock. */
    private void enterGuest() {
        MODE.setRelease(vcpu, IN_GUEST_MODE);
        srcuReadUnlock(); // its smp_mb orders the mode before the requests check (smp_mb__after_srcu_read_unlock)
    }

    /** vcpu_enter_guest after VM exit: vcpu->mode = OUTSIDE_GUEST_MODE; smp_wmb(); ... kvm_vcpu_srcu_read_lock. */
    private void exitGuest() {
        MODE.setRelease(vcpu, OUTSIDE_GUEST_MODE);
        srcuReadLock();
    }

    /** __srcu_read_lock: this_cpu_inc(scp->srcu_locks.counter); smp_mb(). */
    private void srcuReadLock() {
        int idx = kvm.srcuIdx & 1; // READ_ONCE(ssp->srcu_ctrp)
        int i = cpu * CPU_STRIDE + 2 * idx;
        LONGS.setOpaque(srcu, i, (long) LONGS.getOpaque(srcu, i) + 1);
        VarHandle.fullFence();
        srcuIdx = idx;
    }

    /** __srcu_read_unlock: smp_mb(); this_cpu_inc(srcu_unlocks.counter). */
    private void srcuReadUnlock() {
        VarHandle.fullFence();
        int i = cpu * CPU_STRIDE + 2 * srcuIdx + 1;
        LONGS.setOpaque(srcu, i, (long) LONGS.getOpaque(srcu, i) + 1);
    }

    /** queued_read_lock: atomic_add_return_acquire(_QR_BIAS, &lock->cnts), then the writer test. */
    private void readLock() {
        int cnts = (int) CNTS.getAndAddAcquire(kvm, QR_BIAS) + QR_BIAS;
        if ((cnts & QW_WMASK) != 0)
            throw new IllegalStateException("mmu_lock held for write"); // the slow path: no writer here
    }

    /** queued_read_unlock: atomic_sub_return_release(_QR_BIAS, &lock->cnts). */
    private void readUnlock() {
        CNTS.getAndAddRelease(kvm, -QR_BIAS);
    }

    /** __mutex_trylock_fast: atomic_long_try_cmpxchg_acquire(&lock->owner, 0, current). */
    private void mutexLock() {
        if ((long) OWNER.compareAndExchangeAcquire(vcpu, 0L, task) != 0)
            throw new IllegalStateException("vcpu->mutex held"); // the slow path: one thread here
    }

    /** __mutex_unlock_fast: atomic_long_try_cmpxchg_release(&lock->owner, current, 0). */
    private void mutexUnlock() {
        if ((long) OWNER.compareAndExchangeRelease(vcpu, task, 0L) != task)
            throw new IllegalStateException("vcpu->mutex not ours");
    }

    /** This CPU's srcu lock and unlock counts of index {@code idx} (the test's look at the counters). */
    long srcuCount(int idx, boolean unlocks) {
        return (long) LONGS.getVolatile(srcu, cpu * CPU_STRIDE + 2 * idx + (unlocks ? 1 : 0));
    }
}
