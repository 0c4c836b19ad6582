package org.tdplab.backend.snp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/** The SNP backend is replaced under a live VM while its vCPUs convert, validate, write and read. */
class SnpSwapTest {
    static final int VCPUS = 4, ROUNDS = 20;
    static final long K4 = 0x1000, RANGE = 32 * K4;

    @Test
    void anSnpVmSurvivesBackendSwapsMidWorkload() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            SnpBackend first = new SnpBackend();
            VmManager manager = Standalone.vmManager(first);
            Vm vm = manager.create("snp", "snp", VCPUS, 48, Map.of());
            vm.addMemslot(0, 0, 2L << 20, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
            vm.setMemoryAttributes(0x100000, 0x2000, true);
            vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", 0x100000L, "size", 0x2000L), Set.of("zero")));
            vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
            ExecutorService pool = Executors.newFixedThreadPool(VCPUS);
            SnpBackend current = first;
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int v = 0; v < VCPUS; v++) {
                    int vcpu = v;
                    done.add(pool.submit(() -> work(vm, vcpu)));
                }
                for (int swap = 0; swap < 3; swap++) {
                    Thread.sleep(20);
                    long updates = vm.stats().get("RMPUPDATE");
                    Standalone.unbind(manager, current);
                    assertTrue(vm.suspension().isPresent());
                    current = new SnpBackend();
                    Standalone.bind(manager, current, 10 + swap, "1." + swap);
                    assertTrue(vm.suspension().isEmpty(), () -> vm.suspension().toString());
                    assertTrue(vm.stats().get("RMPUPDATE") >= updates); // counters continue
                }
                for (Future<?> f : done)
                    f.get();
            } finally {
                pool.shutdownNow();
            }
            CheckReport r = vm.check();
            assertTrue(r.ok(), () -> String.join("\n", r.violations()));
            assertEquals(List.of(), current.host().rmp().check());
            vm.destroy();
            assertEquals(0, current.host().rmp().assignedPages(), "the restored RMP is torn down cleanly");
        });
    }

    private static void work(Vm vm, int vcpu) {
        long base = vcpu * RANGE;
        for (int round = 0; round < ROUNDS; round++) {
            long token = (vcpu + 1) * 1000L + round;
            ok(vm.convert(vcpu, true, base, RANGE));
            ok(vm.access(vcpu, Access.WRITE, base, RANGE, Encoding.CURRENT, token));
            read(vm, vcpu, base, token);
            ok(vm.convert(vcpu, false, base, RANGE / 2));
            ok(vm.access(vcpu, Access.WRITE, base, RANGE / 2, Encoding.CURRENT, token + 1));
            read(vm, vcpu, base, token + 1);
            read(vm, vcpu, base + RANGE / 2, token);
            ok(vm.convert(vcpu, false, base + RANGE / 2, RANGE / 2));
        }
    }

    private static void ok(AccessResult r) {
        assertTrue(r.completed(), () -> "ended with " + r);
    }

    private static void read(Vm vm, int vcpu, long gpa, long expected) {
        AccessResult r = vm.access(vcpu, Access.READ, gpa, RANGE / 2, Encoding.CURRENT, 0);
        ok(r);
        assertTrue(r.valuesAgree());
        assertEquals(expected, r.value(), () -> String.format("vCPU %d read of 0x%x", vcpu, gpa));
    }
}
