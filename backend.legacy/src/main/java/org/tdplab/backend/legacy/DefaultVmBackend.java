package org.tdplab.backend.legacy;

import java.util.Map;
import java.util.Set;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
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
        return VmCapabilities.ordinary(vmType(), gpaw).withSlotZapAll(true);
    }

    /** No firmware and no vendor hooks: the core's defaults are the whole behaviour. */
    @Override
    public VmBackend attach(VmContext vm, Map<String, String> options) {
        return new VmBackend() {
        };
    }
}
