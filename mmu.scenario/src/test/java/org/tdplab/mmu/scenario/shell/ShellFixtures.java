package org.tdplab.mmu.scenario.shell;

import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

final class ShellFixtures {
    private ShellFixtures() {
    }

    static VmManager manager() {
        return Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(), new TdxBackend(),
                new SnpBackend());
    }
}
