package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.vm.FirmwareTally;
import org.tdplab.percpu.PercpuCounters;

/**
 * A firmware call name's {@link FirmwareTally}, made by whichever of two threads calls first (as the core makes it,
 * under the name in a concurrent map), while both count priced and unpriced calls and a third reads: the owner
 * counts in the tally, the other in the shared counters. A read during the counting never goes back nor past the
 * calls made, and once both are done the calls and the projected time are exact. Fails when every thread counts in
 * the owner's fields (checked, with a yield between the read of a count and its store: repetition 3, calls 3 of 6;
 * without the yield Fray does not schedule between the plain read and the release store, as
 * {@link PercpuCountersRaceTest} says) and when a read leaves out the other threads' calls (checked: calls 3 of 6).
 */
@ExtendWith(FrayTestExtension.class)
class FirmwareTallyRaceTest {
    private static final int NANOS = 0, CALLS = 1;

    @ConcurrencyTest(iterations = 200)
    void twoThreadsCountIntoOneNamesTallyWhileAReaderSums() throws Exception {
        Map<String, FirmwareTally> names = new ConcurrentHashMap<>();
        PercpuCounters shared = new PercpuCounters(2);
        AtomicInteger running = new AtomicInteger(2);
        Lab.Op caller = () -> {
            FirmwareTally t = names.computeIfAbsent("CALL", n -> new FirmwareTally(CALLS));
            t.count(300, shared, NANOS);
            t.count(300, shared, NANOS);
            t.count(0, shared, NANOS);
            running.decrementAndGet();
        };
        Lab.parallel(caller, caller, () -> {
            long lastCalls = 0, lastNanos = 0;
            for (int round = 0; round < 2 || running.get() > 0; round++) {
                FirmwareTally t = names.get("CALL");
                if (t == null)
                    continue;
                long calls = t.calls(shared), nanos = t.ownNanos() + shared.sum(NANOS);
                expect(calls >= lastCalls && nanos >= lastNanos && calls <= 6 && nanos <= 1200,
                        "went back or past: " + lastCalls + "/" + lastNanos + " then " + calls + "/" + nanos);
                lastCalls = calls;
                lastNanos = nanos;
            }
        });
        FirmwareTally t = names.get("CALL");
        long calls = t.calls(shared), nanos = t.ownNanos() + shared.sum(NANOS);
        expect(calls == 6 && nanos == 1200, "calls " + calls + ", ns " + nanos + ": not 6/1200");
    }
}
