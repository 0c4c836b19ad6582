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

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.tdp.vm.Standalone;

/** The TDX backend is replaced under a live TD while its vCPUs accept, write, read and convert. */
class TdxSwapTest {
    private static final int VCPUS = 4, ROUNDS = 20;
    private static final long RANGE = 32 * K4;

    @Test
    void aTdSurvivesBackendSwapsMidWorkload() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Backend first = new TdxBackend();
            VmManager manager = Standalone.vmManager(first);
            Vm vm = manager.create("td", "tdx", VCPUS, 48, Map.of("busy_rate", "0.1", "seed", "3"));
            vm.addMemslot(0, 0, 8 * M1, Set.of(org.tdplab.mmu.api.SlotFlag.GMEM), PageSize.SIZE_4K);
            vm.setMemoryAttributes(0, 4 * M1, true);
            vm.invoke("finalize", VerbArgs.none("finalize"));
            ExecutorService pool = Executors.newFixedThreadPool(VCPUS);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int v = 0; v < VCPUS; v++) {
                    int vcpu = v;
                    done.add(pool.submit(() -> ConversionWorkload.run(vm, vcpu, ROUNDS, RANGE)));
                }
                Backend current = first;
                for (int swap = 0; swap < 3; swap++) {
                    Thread.sleep(20);
                    long added = vm.stats().get("TDH.MEM.PAGE.AUG");
                    Standalone.unbind(manager, current);
                    assertTrue(vm.suspension().isPresent());
                    Thread.sleep(5);
                    current = new TdxBackend();
                    Standalone.bind(manager, current, 10 + swap, "1." + swap);
                    assertTrue(vm.suspension().isEmpty(), () -> vm.suspension().toString());
                    assertTrue(vm.stats().get("TDH.MEM.PAGE.AUG") >= added); // counters continue
                }
                for (Future<?> f : done)
                    f.get();
            } finally {
                pool.shutdownNow();
            }
            assertClean(vm);
            assertEquals(3L, vm.stats().get("swap_suspensions"));
            vm.destroy();
        });
    }
}
