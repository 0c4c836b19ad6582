package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.backend.tdx.module.ModuleLock;

/**
 * The TD module's lock with a guest-side hold counted in its vCPU's cell ({@code lockShared(int)}: the ACCEPT) beside a
 * host-side hold counted in its thread's row (the AUG): an exclusive holder (TRACK, the kick's snapshot) never runs
 * while either is held, and the two shared sides run at once. Fails with the exclusive side waiting for the rows only
 * (checked: the vCPU's hold and the exclusive section overlapped).
 */
@ExtendWith(FrayTestExtension.class)
class ModuleLockVcpuRaceTest {
    @ConcurrencyTest(iterations = 300)
    void theExclusiveSideExcludesAVcpusHoldAndARowsHold() throws Exception {
        ModuleLock lock = new ModuleLock(2);
        AtomicInteger shared = new AtomicInteger();
        AtomicBoolean exclusive = new AtomicBoolean();
        AtomicBoolean overlap = new AtomicBoolean();
        Lab.Op guest = () -> {
            for (int k = 0; k < 2; k++) {
                lock.lockShared(1);
                shared.incrementAndGet();
                if (exclusive.get())
                    overlap.set(true);
                shared.decrementAndGet();
                lock.unlockShared(1);
            }
        };
        Lab.Op host = () -> {
            var row = lock.lockShared();
            shared.incrementAndGet();
            if (exclusive.get())
                overlap.set(true);
            shared.decrementAndGet();
            lock.unlockShared(row);
        };
        Lab.Op owner = () -> {
            for (int k = 0; k < 2; k++) {
                lock.lockExclusive();
                exclusive.set(true);
                if (shared.get() != 0)
                    overlap.set(true);
                exclusive.set(false);
                lock.unlockExclusive();
            }
        };
        Lab.parallel(guest, host, owner);
        expect(!overlap.get(), "a shared hold and the exclusive side overlapped");
        lock.lockExclusive(); // would wait forever if a hold were left counted
        lock.unlockExclusive();
    }
}
