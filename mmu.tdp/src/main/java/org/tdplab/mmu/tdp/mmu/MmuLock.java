package org.tdplab.mmu.tdp.mmu;

import org.tdplab.mmu.tdp.sync.StripedRwLock;

/**
 * {@code kvm->mmu_lock}: a reader/writer lock. Faults and other "shared" operations hold it for read and update
 * SPTEs with CAS; zaps and other exclusive operations hold it for write. The read side is striped per thread
 * ({@link StripedRwLock}), so vCPU threads faulting at once share no lock word, as the kernel's rwlock readers
 * share only its count.
 */
public final class MmuLock {
    private final StripedRwLock lock = new StripedRwLock();

    public void readLock() {
        lock.readLock();
    }

    public void readUnlock() {
        lock.readUnlock();
    }

    /** The calling thread's read-side record ({@link StripedRwLock#holder}), for the methods that take one. */
    public StripedRwLock.Holder holder() {
        return lock.holder();
    }

    public void readLock(StripedRwLock.Holder h) {
        lock.readLock(h);
    }

    public void readUnlock(StripedRwLock.Holder h) {
        lock.readUnlock(h);
    }

    public void writeLock() {
        lock.writeLock();
    }

    public void writeUnlock() {
        lock.writeUnlock();
    }

    public boolean isWriteLockedByMe() {
        return lock.isWriteLockedByMe();
    }

    public boolean isReadLockedByMe() {
        return lock.isReadLockedByMe();
    }

    /** Whether this thread holds the write lock exactly once, so dropping it really releases it. */
    public boolean writeHeldOnce() {
        return lock.writeHeldOnce();
    }

    /** {@code cond_resched_rwlock_write}: the write lock (held once) let go until the waiters had their turn. */
    public void yieldWrite() {
        lock.yieldWrite();
    }

    /** Whether this thread holds the read lock exactly once and not the write lock, so a yield lets a writer in. */
    public boolean readHeldOnce() {
        return lock.readHeldOnce();
    }

    /** {@code cond_resched_rwlock_read}: the read lock (held once) let go and retaken after a waiting writer. */
    public void yieldRead() {
        lock.yieldRead();
    }

    /** {@code rwlock_needbreak}: someone waits for the lock, so a long walk should yield. */
    public boolean contended() {
        return lock.contended();
    }
}
