package org.tdplab.mmu.tdp.vcpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.sync.Waits;

/**
 * {@code vcpu->mutex}: reentrant for its owner, exclusive against every other thread, and dropped whole (however
 * often it is held) when a vCPU ioctl returns to userspace in the middle of an operation.
 */
class VcpuMutexTest {
    /** A thread that takes the mutex, notes it, and lets it go. */
    private static Thread taker(VcpuMutex m, AtomicBoolean got) {
        return new Thread(() -> {
            m.lock();
            got.set(true);
            m.unlock();
        });
    }

    /** {@link VcpuMutex#lockFenced}: the same mutex as {@link VcpuMutex#lock}, reentrant and exclusive. */
    @Test
    void aFencedLockIsTheSameMutex() throws Exception {
        VcpuMutex m = new VcpuMutex();
        m.lockFenced();
        m.lockFenced(); // a re-entry (it makes its own fence)
        m.lock();
        AtomicBoolean got = new AtomicBoolean();
        Thread other = taker(m, got);
        other.start();
        Waits.awaitParkedOn(other, m);
        m.unlock();
        m.unlock();
        assertFalse(got.get(), "held once more");
        m.unlock();
        Waits.join(other);
        assertTrue(got.get());
    }

    @Test
    void theOwnerReentersAndOnlyItsLastUnlockReleases() {
        VcpuMutex m = new VcpuMutex();
        m.lock();
        m.lock();
        m.unlock();
        assertTrue(m.isHeldByCurrentThread(), "held once more");
        m.unlock();
        assertFalse(m.isHeldByCurrentThread());
        assertThrows(IllegalMonitorStateException.class, m::unlock, "not held");
    }

    @Test
    void anotherThreadWaitsUntilTheOwnerLetsGo() throws InterruptedException {
        VcpuMutex m = new VcpuMutex();
        m.lock();
        AtomicBoolean got = new AtomicBoolean();
        Thread other = taker(m, got);
        other.start();
        assertSame(m, Waits.awaitParkedOn(other, m), "the waiter parks on the mutex");
        assertFalse(got.get(), "the owner still holds it");
        m.unlock();
        other.join(60_000); // a bound for a hang, not a timing
        assertFalse(other.isAlive());
        assertTrue(got.get());
        assertFalse(m.isHeldByCurrentThread());
    }

    @Test
    void releaseAllDropsEveryHoldAndRelockRestoresThem() throws InterruptedException {
        VcpuMutex m = new VcpuMutex();
        m.lock();
        m.lock();
        m.lock();
        assertEquals(3, m.releaseAll());
        assertFalse(m.isHeldByCurrentThread());
        AtomicBoolean got = new AtomicBoolean();
        Thread other = taker(m, got);
        other.start();
        other.join(60_000);
        assertTrue(got.get(), "another thread could take it meanwhile");
        m.relock(3);
        m.unlock();
        m.unlock();
        assertTrue(m.isHeldByCurrentThread());
        m.unlock();
        assertFalse(m.isHeldByCurrentThread());
    }
}
