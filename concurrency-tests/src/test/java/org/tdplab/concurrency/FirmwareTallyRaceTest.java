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
 * under the name in a concurrent map), while both count priced and unpriced calls and a third reads: the first caller
 * counts in its pair, the other claims one. A read during the counting never goes back nor past the calls made, and
 * once both are done the calls and the projected time are exact. Fails when every thread counts in the first caller's
 * pair (checked, with a yield between the read of a count and its store: repetition 3, calls 3 of 6; without the
 * yield Fray does not schedule between the plain read and the release store, as {@link PercpuCountersRaceTest} says)
 * and when a read leaves out the other threads' calls (checked: calls 3 of 6).
 *
 * <p>And the claim: a tally of two pairs first called off the vCPUs (the VM's creation) while that thread and two
 * vCPU threads count at once. Exactly one vCPU claims the second pair (the other's calls alone land in the shared
 * counters), nothing is lost, and a read never goes back. Fails when the claim is a volatile read of no claimer and
 * then a volatile store (both vCPUs claim: checked, shared calls 0 of 2) and when the claimer counts in the first
 * caller's pair (checked, with a yield between the read and the store: calls 4 of 6).
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
            t.count(300, shared, NANOS, () -> true);
            t.count(300, shared, NANOS, () -> true);
            t.count(0, shared, NANOS, () -> true);
            running.decrementAndGet();
        };
        Lab.parallel(caller, caller, reader(names, shared, running, 6, 1200));
        FirmwareTally t = names.get("CALL");
        long calls = t.calls(shared), nanos = t.ownNanos() + shared.sum(NANOS);
        expect(calls == 6 && nanos == 1200, "calls " + calls + ", ns " + nanos + ": not 6/1200");
    }

    @ConcurrencyTest(iterations = 300)
    void aVcpuClaimsATallyFirstCalledOffTheVcpusWhileItsOwnerCounts() throws Exception {
        Map<String, FirmwareTally> names = new ConcurrentHashMap<>();
        PercpuCounters shared = new PercpuCounters(2);
        AtomicInteger running = new AtomicInteger(3);
        Lab.Op creator = () -> { // the creation's first calls, off the vCPUs
            FirmwareTally t = new FirmwareTally(CALLS, 2); // its pair and one more
            names.put("CALL", t);
            t.count(100, shared, NANOS, () -> false);
            t.count(100, shared, NANOS, () -> false);
            running.decrementAndGet();
        };
        Lab.Op vcpu = () -> {
            FirmwareTally t;
            while ((t = names.get("CALL")) == null)
                Thread.yield(); // the VM is not made yet
            t.count(300, shared, NANOS, () -> true);
            t.count(0, shared, NANOS, () -> true);
            running.decrementAndGet();
        };
        Lab.parallel(creator, vcpu, vcpu, reader(names, shared, running, 6, 800));
        FirmwareTally made = names.get("CALL");
        long calls = made.calls(shared), nanos = made.ownNanos() + shared.sum(NANOS);
        expect(calls == 6 && nanos == 800, "calls " + calls + ", ns " + nanos + ": not 6/800");
        expect(shared.sum(CALLS) == 2, "shared calls " + shared.sum(CALLS) + ": not the one unclaimed vCPU's 2");
    }

    /** Reads the tally while {@code running} threads count: never back, never past {@code calls}/{@code nanos}. */
    private static Lab.Op reader(Map<String, FirmwareTally> names, PercpuCounters shared, AtomicInteger running,
            long maxCalls, long maxNanos) {
        return () -> {
            long lastCalls = 0, lastNanos = 0;
            for (int round = 0; round < 2 || running.get() > 0; round++) {
                FirmwareTally t = names.get("CALL");
                if (t == null)
                    continue;
                long calls = t.calls(shared), nanos = t.ownNanos() + shared.sum(NANOS);
                expect(calls >= lastCalls && nanos >= lastNanos && calls <= maxCalls && nanos <= maxNanos,
                        "went back or past: " + lastCalls + "/" + lastNanos + " then " + calls + "/" + nanos);
                lastCalls = calls;
                lastNanos = nanos;
            }
        };
    }
}
