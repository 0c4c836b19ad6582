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

    /** A backend that reads only another snapshot version: the VM stays suspended with the refusal naming it. */
    @Test
    void anIncompatibleSnapshotIsRefusedNamingWhatDiffers() {
        Backend first = new TdxBackend();
        VmManager manager = Standalone.vmManager(first);
        Vm vm = manager.create("td", "tdx", 2, 48, Map.of());
        vm.addMemslot(0, 0, 2 * M1, Set.of(org.tdplab.mmu.api.SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        Standalone.unbind(manager, first);
        Backend older = tampering(new TdxBackend(), s -> s.put(Backend.SNAPSHOT_VERSION, 1));
        Standalone.bind(manager, older, 10, "0.9");
        String why = vm.suspension().orElseThrow();
        assertTrue(why.contains("TdxSnapshot snapshot version " + TdxSnapshot.VERSION
                + " is incompatible (this backend restores version 1)")
                || why.contains("TdxSnapshot snapshot version 1 is incompatible (this backend restores version "
                        + TdxSnapshot.VERSION + ")"),
                why);
        Standalone.unbind(manager, older);
        Backend lacking = tampering(new TdxBackend(), s -> s.remove("sept"));
        Standalone.bind(manager, lacking, 11, "0.95");
        assertTrue(vm.suspension().orElseThrow().contains("snapshot lacks TdxSnapshot.sept"),
                vm.suspension().orElseThrow());
        Standalone.unbind(manager, lacking);
        Standalone.bind(manager, new TdxBackend(), 12, "1.1");
        assertTrue(vm.suspension().isEmpty(), () -> vm.suspension().toString());
        assertClean(vm);
        vm.destroy();
    }

    /** {@code real}, restoring a copy of the snapshot changed by {@code change}. */
    private static Backend tampering(Backend real, java.util.function.Consumer<Map<String, Object>> change) {
        return new Backend() {
            @Override
            public String vmType() {
                return real.vmType();
            }

            @Override
            public org.tdplab.mmu.api.backend.VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
                return real.capabilities(gpaw, options);
            }

            @Override
            public org.tdplab.mmu.api.backend.VmBackend attach(org.tdplab.mmu.api.backend.VmContext vm,
                    org.tdplab.mmu.api.backend.VerbArgs options) {
                return real.attach(vm, options);
            }

            @Override
            public org.tdplab.mmu.api.backend.VmBackend restore(org.tdplab.mmu.api.backend.VmContext vm,
                    org.tdplab.mmu.api.backend.VerbArgs options, Map<String, Object> snapshot) {
                Map<String, Object> copy = new java.util.LinkedHashMap<>(snapshot);
                change.accept(copy);
                return real.restore(vm, options, copy);
            }
        };
    }
}
