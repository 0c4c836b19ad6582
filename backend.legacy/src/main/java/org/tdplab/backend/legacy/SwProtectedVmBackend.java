package org.tdplab.backend.legacy;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.api.backend.VmType;

/**
 * {@code KVM_X86_SW_PROTECTED_VM}: private memory from guest_memfd, privateness taken from the memory
 * attributes, no encryption and no vendor hooks. The VM type the private-memory selftests run on.
 */
@Component
@VmType("sw_protected")
@Capabilities(private__mem = true)
public class SwProtectedVmBackend implements Backend {
    private static final int PG_LEVEL_1G = 3;

    @Override
    public String vmType() {
        return "sw_protected";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, VerbArgs options) {
        return Options.applyMmu(options,
                VmCapabilities.ordinary(vmType(), gpaw).withPrivateMemory(PrivateSource.ATTRIBUTES, PG_LEVEL_1G));
    }

    @Override
    public java.util.List<VmOption> options() {
        return Options.MMU;
    }

    /** {@code VMTYPE.nx_recover VM}: one pass of the NX huge page recovery worker. */
    @Override
    public java.util.List<org.tdplab.mmu.api.backend.VerbSpec> verbs() {
        return Options.nxRecoverVerb(vmType());
    }

    /** No firmware and no vendor hooks: the core's defaults are the whole behaviour. */
    @Override
    public VmBackend attach(VmContext vm, VerbArgs options) {
        return Options.mmuVerbs(vm);
    }
}
