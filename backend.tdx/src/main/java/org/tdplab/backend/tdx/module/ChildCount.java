package org.tdplab.backend.tdx.module;

import org.tdplab.percpu.PercpuCounters;

/**
 * The TD's {@code chldcnt} (4K units it owns besides the TDR), counted in the rows of the module's lock: a leaf that
 * holds the lock shared (AUG, SEPT.ADD) adds in the row its hold returned, with no look-up of its own; any other
 * leaf holds the lock exclusively and adds in its thread's row. Read and set only holding the lock exclusively,
 * when every shared holder let go (its count is then seen whole, as the lock's holds are).
 */
final class ChildCount {
    private final ModuleLock lock;

    ChildCount(ModuleLock lock) {
        this.lock = lock;
    }

    /** Adds {@code n}, holding the lock exclusively. */
    void add(long n) {
        lock.holders.add(ModuleLock.CHILDREN, n);
    }

    /** Adds {@code n} in the row of the shared hold {@code held} (the calling thread's). */
    void add(PercpuCounters.Row held, long n) {
        lock.holders.add(held, ModuleLock.CHILDREN, n);
    }

    long sum() {
        return lock.holders.sum(ModuleLock.CHILDREN);
    }

    /** Sets the count (a restore). */
    void set(long value) {
        lock.holders.set(ModuleLock.CHILDREN, value);
    }
}
