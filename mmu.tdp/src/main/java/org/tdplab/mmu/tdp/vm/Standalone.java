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
}
