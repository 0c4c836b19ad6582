package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.LockSupport;

/**
 * The RMP's per-stripe words: the lock every instruction on a 2M region of the stripe holds (the hardware's
 * per-entry atomicity) and the stripe's share of the table's digest, which only that lock's holder writes. Both words
 * of a stripe lie in one cache line of their own, so an instruction that takes the lock has the digest word at hand.
 *
 * <p>The lock is a word set by compare-and-swap and cleared by a release store: one locked instruction per hold, where
 * a {@code ReentrantLock} took a compare-and-swap to lock and a volatile store (a full fence) to unlock. It is not
 * reentrant (no instruction takes a stripe it holds). A waiter spins briefly, then parks for a short while and looks
 * again: the release store wakes nobody, so a missed hand-over costs latency, never progress (holds last an
 * instruction). Nothing waits behind the lock in the kernel's sense: RMPUPDATE and PSMASH only try it and fail as the
 * hardware does.
 */
final class StripeLocks {
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    /**
     * Longs per stripe: a 64-byte line; the lock word first, the digest word next, then {@link #SLOTS} words that
     * count the frames of one ASID each assigned in the stripe's regions ({@link #addAssigned}).
     */
    private static final int STRIDE = 8, LOCK = 0, DIGEST = 1, COUNTS = 2, SLOTS = STRIDE - COUNTS;
    /** A count word: the ASID above {@value #COUNT_BITS} bits of count; a count of 0 frees the word. */
    private static final int COUNT_BITS = 48;
    private static final long COUNT_MASK = (1L << COUNT_BITS) - 1;
    private static final int SPINS = 64;
    private static final long PARK_NANOS = 20_000;

    /** A line of padding before the first stripe (the array's header, which every access reads) and after the last. */
    /**
     * Empty words before the first stripe and after the last: 128 bytes, the pair of lines the adjacent-line
     * prefetcher moves. With one stride (64 bytes) the lock of stripe 0 — the lowest 2M block's, which a vCPU faults
     * into — shared a pair of lines with the array's length and this object's fields, which every RMP access reads.
     */
    static final int PAD = 16;
    private final long[] words;
    private final int stripes;

    StripeLocks(int stripes) {
        this.stripes = stripes;
        this.words = new long[PAD + stripes * STRIDE + PAD];
    }

    /** The index of stripe {@code stripe}'s word {@code field} in the words. */
    static int at(int stripe, int field) {
        return PAD + stripe * STRIDE + field;
    }

    /** The number of words, padding included (for tests). */
    int length() {
        return words.length;
    }

    /** Takes stripe {@code s}'s lock when it is free; false, holding nothing, when another CPU holds it. */
    boolean tryLock(int s) {
        return WORD.compareAndSet(words, at(s, LOCK), 0L, 1L);
    }

    /** Takes stripe {@code s}'s lock, waiting for its holder to let go. */
    void lock(int s) {
        if (!tryLock(s))
            lockContended(s);
    }

    private void lockContended(int s) {
        for (int spins = 0;; spins++) {
            if ((long) WORD.getVolatile(words, at(s, LOCK)) == 0 && tryLock(s))
                return;
            if (spins < SPINS)
                Thread.onSpinWait();
            else
                LockSupport.parkNanos(this, PARK_NANOS);
        }
    }

    /** Lets go of stripe {@code s}'s lock: a release store, so what the holder wrote is seen by the next holder. */
    void unlock(int s) {
        WORD.setRelease(words, at(s, LOCK), 0L);
    }

    boolean isLocked(int s) {
        return (long) WORD.getVolatile(words, at(s, LOCK)) != 0;
    }

    /** XORs {@code change} into stripe {@code s}'s digest word; the caller holds the stripe's lock. */
    void mixIntoDigest(int s, long change) {
        int i = at(s, DIGEST);
        WORD.setRelease(words, i, words[i] ^ change);
    }

    /**
     * Adds {@code delta} frames to {@code asid}'s count in stripe {@code s}'s line, in the word that counts that ASID
     * or else a free one; false, nothing changed, when no word can take it (the caller counts it elsewhere). The
     * caller holds the stripe's lock: an instruction's count lands in the line its lock already brought, one store
     * and no look-up of the thread. A word is read and written whole, so a reader without the lock sees a count
     * with its own ASID, before or after an instruction.
     */
    boolean addAssigned(int s, int asid, long delta) {
        int base = at(s, COUNTS), free = -1;
        for (int k = 0; k < SLOTS; k++) {
            long v = words[base + k], n = v & COUNT_MASK;
            if (n == 0) {
                if (free < 0)
                    free = k;
            } else if ((int) (v >>> COUNT_BITS) == asid) {
                if (n + delta < 0)
                    return false;
                WORD.setRelease(words, base + k, n + delta == 0 ? 0L : v + delta);
                return true;
            }
        }
        if (delta <= 0 || free < 0)
            return false;
        WORD.setRelease(words, base + free, (long) asid << COUNT_BITS | delta);
        return true;
    }

    /** Adds the frames every stripe counts per ASID into {@code perAsid} (indexed by ASID). */
    void addAssignedInto(long[] perAsid) {
        for (int s = 0; s < stripes; s++)
            for (int k = 0; k < SLOTS; k++) {
                long v = (long) WORD.getAcquire(words, at(s, COUNTS + k));
                if ((v & COUNT_MASK) != 0)
                    perAsid[(int) (v >>> COUNT_BITS)] += v & COUNT_MASK;
            }
    }

    /** The frames of {@code asid} the stripes count. */
    long assigned(int asid) {
        long n = 0;
        for (int s = 0; s < stripes; s++)
            for (int k = 0; k < SLOTS; k++) {
                long v = (long) WORD.getAcquire(words, at(s, COUNTS + k));
                if ((v & COUNT_MASK) != 0 && (int) (v >>> COUNT_BITS) == asid)
                    n += v & COUNT_MASK;
            }
        return n;
    }

    /** The XOR of every stripe's digest word. */
    long digest() {
        long d = 0;
        for (int s = 0; s < stripes; s++)
            d ^= (long) WORD.getAcquire(words, at(s, DIGEST));
        return d;
    }

    /** Stripe {@code s}'s lock as a {@link Lock} (lock, tryLock, unlock): for tests that play another CPU. */
    Lock view(int s) {
        return new Lock() {
            @Override
            public void lock() {
                StripeLocks.this.lock(s);
            }

            @Override
            public boolean tryLock() {
                return StripeLocks.this.tryLock(s);
            }

            @Override
            public void unlock() {
                if (!isLocked(s))
                    throw new IllegalMonitorStateException("stripe " + s + " is not locked");
                StripeLocks.this.unlock(s);
            }

            @Override
            public void lockInterruptibly() {
                throw new UnsupportedOperationException();
            }

            @Override
            public boolean tryLock(long time, TimeUnit unit) {
                throw new UnsupportedOperationException();
            }

            @Override
            public Condition newCondition() {
                throw new UnsupportedOperationException();
            }
        };
    }
}
