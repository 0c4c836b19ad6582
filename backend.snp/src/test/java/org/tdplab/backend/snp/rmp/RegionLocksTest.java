package org.tdplab.backend.snp.rmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The RMP's striped region locks: who excludes whom, and the digest words kept beside them. */
@Timeout(60)
class RegionLocksTest {

    @Test
    void twoThreadsNeverHoldOneStripeAtOnce() throws Exception {
        RegionLocks locks = new RegionLocks(8);
        long[] counter = { 0 };
        AtomicBoolean inside = new AtomicBoolean(), overlapped = new AtomicBoolean();
        Runnable work = () -> {
            for (int k = 0; k < 20_000; k++) {
                locks.lock(5);
                if (inside.getAndSet(true))
                    overlapped.set(true);
                counter[0]++; // plain: only the lock keeps it exact
                inside.set(false);
                locks.unlock(5);
            }
        };
        Thread a = new Thread(work), b = new Thread(work);
        a.start();
        b.start();
        a.join();
        b.join();
        assertFalse(overlapped.get(), "two threads held stripe 5 at once");
        locks.lock(5);
        assertEquals(40_000, counter[0]);
        locks.unlock(5);
    }

    @Test
    void aHeldStripeRefusesATryButOtherStripesDoNot() {
        RegionLocks locks = new RegionLocks(4);
        locks.lock(1);
        assertTrue(locks.isLocked(1));
        assertFalse(locks.tryLock(1), "not reentrant: a second take of a held stripe fails");
        assertTrue(locks.tryLock(2));
        locks.unlock(2);
        locks.unlock(1);
        assertFalse(locks.isLocked(1));
        assertThrows(IllegalMonitorStateException.class, () -> locks.unlock(1), "let go while free");
    }

    @Test
    void theDigestIsTheXorOfEveryStripesWord() {
        RegionLocks locks = new RegionLocks(4);
        locks.lock(0);
        locks.xorDigest(0, 0b1100);
        locks.unlock(0);
        locks.lock(3);
        locks.xorDigest(3, 0b1010);
        locks.xorDigest(3, 0b0001);
        locks.unlock(3);
        assertEquals(0b1100 ^ 0b1010 ^ 0b0001, locks.digest());
        assertEquals(4, locks.stripes());
    }
}
