package org.tdplab.backend.snp.rmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Lock;

import org.junit.jupiter.api.Test;

/** The RMP's stripe locks: exclusive, tried without waiting, waited for, and the digest words beside them. */
class StripeLocksTest {
    final StripeLocks locks = new StripeLocks(16);

    @Test
    void aHeldStripeIsRefusedToATryAndOthersAreNot() {
        assertTrue(locks.tryLock(3));
        assertFalse(locks.tryLock(3), "not reentrant: a second hold fails");
        assertTrue(locks.tryLock(4), "another stripe is free");
        locks.unlock(3);
        assertTrue(locks.tryLock(3));
        locks.unlock(3);
        locks.unlock(4);
    }

    @Test
    void lockWaitsForTheHolder() throws Exception {
        locks.lock(7);
        AtomicBoolean got = new AtomicBoolean();
        CountDownLatch trying = new CountDownLatch(1);
        Thread other = new Thread(() -> {
            trying.countDown();
            locks.lock(7);
            got.set(true);
            locks.unlock(7);
        });
        other.start();
        trying.await();
        Thread.sleep(50);
        assertFalse(got.get(), "the other thread waits while the stripe is held");
        locks.unlock(7);
        other.join(10_000);
        assertTrue(got.get());
    }

    @Test
    void holdsExcludeEachOther() throws Exception {
        long[] counter = new long[1];
        Thread[] ts = new Thread[4];
        for (int t = 0; t < ts.length; t++) {
            ts[t] = new Thread(() -> {
                for (int i = 0; i < 100_000; i++) {
                    locks.lock(5);
                    counter[0]++; // a plain increment: lost updates if two threads held the stripe at once
                    locks.unlock(5);
                }
            });
            ts[t].start();
        }
        for (Thread t : ts)
            t.join();
        assertEquals(400_000, counter[0]);
    }

    @Test
    void theViewIsTheStripesLock() {
        Lock view = locks.view(2);
        view.lock();
        assertFalse(locks.tryLock(2));
        view.unlock();
        assertTrue(view.tryLock());
        locks.unlock(2);
        assertThrows(IllegalMonitorStateException.class, view::unlock, "unlocking a free stripe is a bug");
    }

    /**
     * Every stripe's words lie 128 bytes or more from the array's header (16 bytes) and end: the first stripe's lock
     * was 80 bytes into the array and the last stripe's last word 64 bytes from its end (checked: fails so).
     */
    @Test
    void theStripesLieAPairOfLinesFromTheArraysEnds() {
        int header = 16, apart = 128;
        assertTrue(8 * StripeLocks.at(0, 0) >= apart, "the first stripe's lock lies "
                + (header + 8 * StripeLocks.at(0, 0)) + " bytes into the array");
        assertTrue(8 * (locks.length() - 1 - StripeLocks.at(15, 7)) >= apart, "the last stripe's last word");
    }

    @Test
    void theDigestIsTheXorOfTheStripesWords() {
        locks.mixIntoDigest(0, 0b1100);
        locks.mixIntoDigest(15, 0b1010);
        assertEquals(0b0110, locks.digest());
        locks.mixIntoDigest(0, 0b1100);
        assertEquals(0b1010, locks.digest());
    }
}
