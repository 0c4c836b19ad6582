package org.tdplab.mmu.tdp.vm;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.tdplab.mmu.tdp.mmu.TdpMmu;

/**
 * A VM's counters: the core's (kernel stat names), its firmware calls and their projected time, the backend's own,
 * and the hot-swap ones; which of them count firmware calls; and, from the end of the teardown on, the final values.
 */
final class VmStats {
    private final TdpMmu mmu;
    private final CoreVmContext context;
    private final BackendSlot gate;
    private volatile Map<String, Long> finalStats;
    private volatile Set<String> finalFirmware;

    VmStats(TdpMmu mmu, CoreVmContext context, BackendSlot gate) {
        this.mmu = mmu;
        this.context = context;
        this.gate = gate;
    }

    /** The final counters once the VM was destroyed, else null (then ask {@link #now()} through the gate). */
    Map<String, Long> finalStats() {
        return finalStats;
    }

    /** The counters now; called through the backend gate. */
    Map<String, Long> now() {
        Map<String, Long> out = new LinkedHashMap<>(mmu.stats.snapshot());
        context.firmwareCalls.forEach((name, counter) -> out.put(name, context.firmwareCalls(counter)));
        out.put("projected_firmware_ns", context.projectedFirmwareNanos());
        gate.backend().stats().forEach(out::putIfAbsent); // the core's own counters are not the backend's to set
        for (String name : gate.declaredFirmwareCalls())
            out.putIfAbsent(name, 0L);
        if (gate.suspensions.sum() > 0) { // only VMs that went through a backend swap carry these
            out.put("swap_suspensions", gate.suspensions.sum());
            out.put("swap_ops_waited", gate.opsWaited.sum());
            out.put("swap_last_pause_us", gate.lastPauseNanos / 1000);
        }
        return out;
    }

    /** The names of the counters that count firmware calls: declared by the backend or recorded as calls. */
    Set<String> firmwareCalls() {
        Set<String> f = finalFirmware;
        if (f != null)
            return f;
        Set<String> out = new TreeSet<>(gate.declaredFirmwareCalls());
        out.addAll(context.firmwareCalls.keySet());
        return Collections.unmodifiableSet(out);
    }

    /** The teardown is over: the counters as it left them are the VM's last. */
    void freeze() {
        finalFirmware = firmwareCalls();
        finalStats = Collections.unmodifiableMap(now());
    }
}
