package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * The pause a backend swap causes with 1 GiB of mapped TD memory (262144 private 4K leaves in the S-EPT and PAMT):
 * how long the TD is suspended and how many operations waited. A measurement, not run by {@code mvn verify}:
 * {@code mvn -o test -pl mmu.api,mmu.tdp,backend.tdx -Dtest=TdxSwapPauseTest -Dtdplab.swap.pause=true}.
 */
@EnabledIfSystemProperty(named = "tdplab.swap.pause", matches = "true")
class TdxSwapPauseTest {
    private static final long G1 = 1L << 30, K4 = 4096;

    @Test
    void pauseWithOneGibMapped() throws Exception {
        TdxBackend first = new TdxBackend();
        VmManager manager = Standalone.vmManager(first);
        Vm vm = manager.create("big", "tdx", 2, 48, Map.of());
        vm.addMemslot(0, 0, G1 + (2L << 20), Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, G1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        long t0 = System.nanoTime();
        assertTrue(vm.accept(0, 0, G1, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0, G1, Encoding.PRIVATE, 5).completed());
        System.out.printf("mapped 1 GiB private in %d ms; pages_4k=%d%n", (System.nanoTime() - t0) / 1_000_000,
                vm.stats().get("pages_4k"));
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong ops = new AtomicLong(), worst = new AtomicLong();
        Thread vcpu = new Thread(() -> {
            long gpa = 0;
            while (!stop.get()) {
                long s = System.nanoTime();
                AccessResult r = vm.access(1, Access.READ, gpa, K4, Encoding.CURRENT, 0);
                worst.accumulateAndGet(System.nanoTime() - s, Math::max);
                assertEquals(5, r.value());
                ops.incrementAndGet();
                gpa = (gpa + K4) % G1;
            }
        });
        vcpu.start();
        Thread.sleep(200);
        worst.set(0);
        for (int i = 0; i < 3; i++) {
            long s = System.nanoTime();
            Standalone.unbind(manager, first);
            long suspended = System.nanoTime();
            first = new TdxBackend();
            Standalone.bind(manager, first, 10 + i, "x");
            long e = System.nanoTime();
            System.out.printf("swap %d: suspend (drain + snapshot) %d ms, restore %d ms, total %d ms; "
                    + "TD suspended %d us%n", i, (suspended - s) / 1_000_000, (e - suspended) / 1_000_000,
                    (e - s) / 1_000_000, vm.stats().get("swap_last_pause_us"));
            Thread.sleep(100);
        }
        stop.set(true);
        vcpu.join();
        System.out.printf("ops waited %d (of %d reads); worst read latency %d ms%n", vm.stats().get("swap_ops_waited"),
                ops.get(), worst.get() / 1_000_000);
        assertTrue(vm.check().ok());
        vm.destroy();
    }
}
