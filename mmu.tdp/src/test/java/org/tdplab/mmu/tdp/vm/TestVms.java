package org.tdplab.mmu.tdp.vm;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.mem.HostMemory;

/** VMs for core tests, with backends that have no firmware: an ordinary VM and a software-protected one. */
final class TestVms {
    static final HostMemory MEMORY = new HostMemory();
    private static final AtomicInteger IDS = new AtomicInteger(1000);

    static final long M2 = 2L << 20;
    static final long G1 = 1L << 30;

    private TestVms() {
    }

    static Backend backend(VmCapabilities caps) {
        return backend(caps, vm -> new VmBackend() {
        });
    }

    /** A backend of {@code caps}' VM type whose VMs get the per-VM side {@code attach} makes. */
    static Backend backend(VmCapabilities caps, java.util.function.Function<VmContext, VmBackend> attach) {
        return new Backend() {
            @Override
            public String vmType() {
                return caps.vmType();
            }

            @Override
            public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
                return caps;
            }

            @Override
            public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
                return attach.apply(vm);
            }
        };
    }

    static VmCapabilities ordinary() {
        return VmCapabilities.ordinary("default", 48).withSlotZapAll(true);
    }

    static VmCapabilities swProtected() {
        return VmCapabilities.ordinary("sw_protected", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 3);
    }

    static CoreVm create(VmCapabilities caps, int vcpus) {
        return create(caps, vcpus, new CopyOnWriteArrayList<>());
    }

    static CoreVm create(VmCapabilities caps, int vcpus, List<MmuObserver> observers) {
        return create(caps, vcpus, observers, vm -> new VmBackend() {
        });
    }

    /** A VM whose per-VM backend side {@code attach} makes (a test's recording or refusing backend). */
    static CoreVm create(VmCapabilities caps, int vcpus, List<MmuObserver> observers,
            java.util.function.Function<VmContext, VmBackend> attach) {
        int id = IDS.incrementAndGet();
        return new CoreVm(id, caps.vmType() + id, caps.vmType(), vcpus, caps, MEMORY, backend(caps, attach),
                Map.of(), observers, vm -> {
                });
    }

    static void slot(CoreVm vm, int id, long gpa, long size, PageSize backing, SlotFlag... flags) {
        vm.addMemslot(id, gpa, size, flags.length == 0 ? Set.of() : Set.of(flags), backing);
    }

    static void assertClean(CoreVm vm) {
        CheckReport report = vm.check();
        if (!report.ok())
            throw new AssertionError("invariants broken:\n  " + String.join("\n  ", report.violations()));
    }
}
