package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/** Each firmware call adds its configured latency to the VM's {@code projected_firmware_ns}: counted, never slept. */
class FirmwareLatencyAccountingTest {
    private static CoreVm vm(FirmwareLatency table, AtomicReference<VmContext> ctx) {
        VmCapabilities caps = TestVms.ordinary();
        Backend b = TestVms.backend(caps, vm -> {
            ctx.set(vm);
            if (table != null)
                vm.firmwareLatency(table);
            vm.firmwareCall("OP.INIT", -1, 0, "OK"); // a call made while attaching is priced too
            return new VmBackend() {
            };
        });
        return new CoreVm(4242, "lat", caps.vmType(), 1, caps, TestVms.MEMORY, b, Map.of(),
                new CopyOnWriteArrayList<>(), v -> {
                });
    }

    @Test
    void callsArePricedWithTheTableTheVmWasGiven() {
        AtomicReference<VmContext> ctx = new AtomicReference<>();
        CoreVm vm = vm(FirmwareLatency.parse("OP.A=4000", "OP.INIT=50000", "*=1000"), ctx);
        long t0 = System.nanoTime();
        for (int i = 0; i < 1000; i++)
            ctx.get().firmwareCall("OP.A", i, 1, "OK");
        ctx.get().firmwareCall("OP.B", 0, 1, "BUSY"); // a failed call costs its latency as well
        assertEquals(50_000L + 1000 * 4000L + 1000L, vm.stats().get("projected_firmware_ns"));
        assertEquals(1000L, vm.stats().get("OP.A"));
        assertEquals(1L, vm.stats().get("OP.B"));
        // 4 ms projected, but never slept
        assertEquals(true, System.nanoTime() - t0 < 4_000_000_000L);
    }

    @Test
    void aNewTableAppliesFromThenOnAndNoTableCountsNothing() {
        AtomicReference<VmContext> ctx = new AtomicReference<>();
        CoreVm vm = vm(null, ctx);
        ctx.get().firmwareCall("OP.A", 0, 1, "OK");
        assertEquals(0L, vm.stats().get("projected_firmware_ns"));
        ctx.get().firmwareLatency(FirmwareLatency.parse("OP.A=10"));
        ctx.get().firmwareCall("OP.A", 0, 1, "OK");
        assertEquals(10L, vm.stats().get("projected_firmware_ns"));
        assertEquals(3L, vm.stats().get("OP.A") + vm.stats().get("OP.INIT"));
    }
}
