package org.tdplab.backend.legacy;

import java.util.Map;
import java.util.Set;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmType;

/** {@code KVM_X86_DEFAULT_VM}: no private memory, no mirror, no firmware. */
@Component
@VmType("default")
@Capabilities
public class DefaultVmBackend implements Backend {
    @Override
    public String vmType() {
        return "default";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, Map<String, String> options) {
        Options.requireKnown(vmType(), options, Set.of());
        return new VmCapabilities(vmType(), gpaw, false, false, false, -1);
    }
}
