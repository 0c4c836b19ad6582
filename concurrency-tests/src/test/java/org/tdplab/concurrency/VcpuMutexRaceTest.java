package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.vcpu.VcpuMutex;

/**
 * {@code vcpu->mutex} ({@link VcpuMutex}: a CAS to take it, a release store to drop it, a waiter count beside the
 * owner word that the unlocker reads instead of the queue, ebbb16a) under three threads: one holds it twice and lets
 * it go wholly for a moment ({@link VcpuMutex#releaseAll}, as a conversion's exit to userspace does), two take it
 * reentrantly. At most one thread is ever inside, every thread gets in, the re-entry count survives the others'
 * holds, and the waiter count is back to zero once they are done. A missed wake-up costs a short park, not progress
 * (the parks are timed), so it is not what this can see. Fails with the contender's CAS replaced by a look at the
 * owner and a store (checked: seventh iteration, a thread's unlock found the mutex taken from under it), and with the
 * waiter count dropped twice on the way out (checked: first iteration).
 */
@ExtendWith(FrayTestExtension.class)
class VcpuMutexRaceTest {
    @ConcurrencyTest(iterations = 200)
    void threeThreadsOneReleasingAllForAMoment() throws Exception {
        VcpuMutex m = new VcpuMutex();
        AtomicInteger inside = new AtomicInteger(), entries = new AtomicInteger();
        Lab.Op enter = () -> {
            expect(inside.incrementAndGet() == 1, "two threads hold the vcpu mutex");
            entries.incrementAndGet();
            inside.decrementAndGet();
        };
        Lab.Op reentrant = () -> {
            m.lock();
            m.lock();
            enter.run();
            m.unlock();
            expect(m.isHeldByCurrentThread(), "one unlock of two holds let go of the mutex");
            enter.run();
            m.unlock();
            expect(!m.isHeldByCurrentThread(), "still held after two unlocks");
        };
        Lab.parallel(() -> {
            m.lock();
            m.lock();
            enter.run();
            int held = m.releaseAll(); // out to userspace mid-operation: others may get in
            expect(held == 2 && !m.isHeldByCurrentThread(), "releaseAll kept the mutex");
            m.relock(held);
            enter.run();
            m.unlock();
            expect(m.isHeldByCurrentThread(), "relock lost a hold");
            m.unlock();
        }, reentrant, reentrant);
        expect(entries.get() == 6, "entries: " + entries.get());
        var waiting = VcpuMutex.class.getDeclaredField("waiting");
        waiting.setAccessible(true);
        expect(waiting.getInt(m) == 0, "waiter count left at " + waiting.getInt(m));
        m.lock(); // free for a newcomer
        m.unlock();
    }
}
