package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.backend.tdx.module.ModuleLock;

/**
 * The TDX module's lock kept by a thread between the exclusive sections of its {@code retain} scope (a page's
 * removal: BLOCK, TRACK, REMOVE, WBINVD): a shared holder (a vCPU's ACCEPT) or another thread's exclusive side may
 * take it over between two sections, and the scope's next section then waits for them as before; a section never
 * overlaps a shared hold nor another exclusive one.
 */
@ExtendWith(FrayTestExtension.class)
class ModuleLockRetainRaceTest {
    @ConcurrencyTest(iterations = 200)
    void retainedSectionsExcludeSharedAndExclusiveHolders() throws Exception {
        ModuleLock lock = new ModuleLock();
        AtomicInteger shared = new AtomicInteger(), exclusive = new AtomicInteger();
        Lab.parallel(() -> {
            lock.retain();
            try {
                for (int i = 0; i < 3; i++) {
                    lock.lockExclusive();
                    inExclusive(shared, exclusive);
                    lock.unlockExclusive();
                }
            } finally {
                lock.unretain();
            }
        }, () -> {
            for (int i = 0; i < 2; i++) {
                var row = lock.lockShared();
                shared.incrementAndGet();
                expect(exclusive.get() == 0, "a shared hold overlaps an exclusive section");
                shared.decrementAndGet();
                lock.unlockShared(row);
            }
        }, () -> {
            lock.lockExclusive();
            inExclusive(shared, exclusive);
            lock.unlockExclusive();
        });
        // nothing is kept once the scope closed: another thread takes both sides at once
        Lab.parallel(() -> {
            var row = lock.lockShared();
            lock.unlockShared(row);
            lock.lockExclusive();
            lock.unlockExclusive();
        });
    }

    private static void inExclusive(AtomicInteger shared, AtomicInteger exclusive) {
        expect(exclusive.incrementAndGet() == 1, "two exclusive sections overlap");
        expect(shared.get() == 0, "an exclusive section overlaps a shared hold");
        Thread.yield();
        expect(shared.get() == 0, "a shared hold began inside an exclusive section");
        exclusive.decrementAndGet();
    }
}
