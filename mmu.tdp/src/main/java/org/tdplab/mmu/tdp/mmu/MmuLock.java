package org.tdplab.mmu.tdp.mmu;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * {@code kvm->mmu_lock}: a reader/writer lock. Faults and other "shared" operations hold it for read and update
 * SPTEs with CAS; zaps and other exclusive operations hold it for write.
 */
public final class MmuLock {
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

    public void readLock() {
        lock.readLock().lock();
    }

    public void readUnlock() {
        lock.readLock().unlock();
    }

    public void writeLock() {
        lock.writeLock().lock();
    }

    public void writeUnlock() {
        lock.writeLock().unlock();
    }

    public boolean isWriteLockedByMe() {
        return lock.isWriteLockedByCurrentThread();
    }

    public boolean isReadLockedByMe() {
        return lock.getReadHoldCount() > 0;
    }

    /** Whether this thread holds the write lock exactly once, so dropping it really releases it. */
    public boolean writeHeldOnce() {
        return lock.isWriteLockedByCurrentThread() && lock.getWriteHoldCount() == 1;
    }

    /** {@code rwlock_needbreak}: someone waits for the lock, so a long walk should yield. */
    public boolean contended() {
        return lock.hasQueuedThreads();
    }
}
