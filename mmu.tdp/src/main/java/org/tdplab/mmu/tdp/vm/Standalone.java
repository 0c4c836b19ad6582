package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;

/**
 * The core without a container: a {@link VmManager} bound to the given backends, for unit tests, the scenario
 * runner's own tests and benchmarks. In the runtime the core is a Declarative Services component instead.
 */
public final class Standalone {
    private Standalone() {
    }

    public static VmManager vmManager(Backend... backends) {
        VmManagerComponent core = new VmManagerComponent();
        long id = 1;
        for (Backend b : backends)
            core.bindStandalone(b, id++);
        return core;
    }

    /**
     * The backend service goes away, as an unbind would: its VMs are suspended (and resumed by another of the type).
     */
    public static void unbind(VmManager manager, Backend backend) {
        ((VmManagerComponent) manager).unbindStandalone(backend);
    }

    /** A backend service arrives, as a bind would: suspended VMs of its type resume on it. */
    public static void bind(VmManager manager, Backend backend, long serviceId, String version) {
        ((VmManagerComponent) manager).bindStandalone(backend, serviceId, version);
    }
}
