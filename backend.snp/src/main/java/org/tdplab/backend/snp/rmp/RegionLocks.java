package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;

/**
 * The locks of the RMP's 2M regions, striped, and beside each lock word its stripe's digest word (written under the
 * lock, so an instruction's lock and its digest update touch one cache line). A lock is taken with a CAS and let go
 * with a release store: one atomic per instruction, where a {@code ReentrantLock}'s let-go is a volatile store, a
 * second fence. The stripe's unlock orders the entry's stores before the next holder's reads; the lock-free readers
 * of entries pair with the entries' own release stores. Not reentrant: an instruction takes one region's lock and
 * calls no other instruction while it holds it.
 */
final class RegionLocks {
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    /** How long a waiter parks before it tries again (the holder does not wake it: holds last a few entries' work). */
    private static final long PARK_NANOS = 20_000;
    private static final int LOCK = 0, DIGEST = 1;

    /** Per stripe: its lock word (0 free, 1 held) and its digest word. */
    private final long[] words;

    RegionLocks(int stripes) {
        this.words = new long[2 * stripes];
    }

    int stripes() {
        return words.length / 2;
    }

    boolean tryLock(int stripe) {
        return WORD.compareAndSet(words, 2 * stripe + LOCK, 0L, 1L);
    }

    void lock(int stripe) {
        for (int spins = 0; !tryLock(stripe); spins++)
            while ((long) WORD.getVolatile(words, 2 * stripe + LOCK) != 0) { // wait without a CAS per look
                if (spins++ < 128)
                    Thread.onSpinWait();
                else
                    LockSupport.parkNanos(this, PARK_NANOS);
            }
    }

    void unlock(int stripe) {
        if ((long) WORD.getAcquire(words, 2 * stripe + LOCK) == 0)
            throw new IllegalMonitorStateException("RMP region stripe " + stripe + " let go while free");
        WORD.setRelease(words, 2 * stripe + LOCK, 0L);
    }

    boolean isLocked(int stripe) {
        return (long) WORD.getVolatile(words, 2 * stripe + LOCK) != 0;
    }

    /** XORs {@code change} into the stripe's digest; the caller holds the stripe's lock. */
    void xorDigest(int stripe, long change) {
        int i = 2 * stripe + DIGEST;
        WORD.setRelease(words, i, words[i] ^ change);
    }

    /** The XOR of every stripe's digest. */
    long digest() {
        long d = 0;
        for (int i = DIGEST; i < words.length; i += 2)
            d ^= (long) WORD.getAcquire(words, i);
        return d;
    }
}
