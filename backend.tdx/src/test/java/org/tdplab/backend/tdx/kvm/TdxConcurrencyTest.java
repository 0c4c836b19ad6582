package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.RepeatedTest;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Vm;

/**
 * vCPU threads accept, write, read and convert their own ranges while the others run, with the module's locks
 * contended: faults install under the read lock while removals (BLOCK, TRACK + kick, REMOVE) hold the write lock.
 * Nothing deadlocks, every read sees what the guest wrote, and the invariants hold at the end.
 */
class TdxConcurrencyTest {
    private static final int VCPUS = 4, ROUNDS = 12;
    private static final long RANGE = 32 * K4;

    @RepeatedTest(3)
    void vcpusConvertAndAccessConcurrently() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (String rate : List.of("0", "0.2")) {
                Tds tds = new Tds();
                Vm vm = tds.td("c" + rate, VCPUS, 48, 0, Map.of("busy_rate", rate, "seed", "5"));
                vm.setMemoryAttributes(0, 4 * M1, true);
                vm.invoke("finalize", VerbArgs.none("finalize"));
                ExecutorService pool = Executors.newFixedThreadPool(VCPUS);
                try {
                    List<Future<?>> done = new ArrayList<>();
                    for (int v = 0; v < VCPUS; v++) {
                        int vcpu = v;
                        done.add(pool.submit(() -> ConversionWorkload.run(vm, vcpu, ROUNDS, RANGE)));
                    }
                    for (Future<?> f : done)
                        f.get();
                } finally {
                    pool.shutdownNow();
                }
                assertClean(vm);
                TdxVm t = tds.tdx(vm);
                vm.destroy();
                assertEquals(0, t.framesHeld());
                assertTrue(t.module().pamtEmpty());
            }
        });
    }
}
