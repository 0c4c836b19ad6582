package org.tdplab.backend.snp;

import java.util.Map;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmType;

/**
 * {@code KVM_X86_SNP_VM}: private memory from guest_memfd under the Reverse Map Table; one direct root,
 * no mirror, privateness from the guest's C-bit.
 */
@Component
@VmType("snp")
@Capabilities(private__mem = true, protected__state = true)
public class SnpBackend implements Backend {
    @Override
    public String vmType() {
        return "snp";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, Map<String, String> options) {
        return new VmCapabilities(vmType(), gpaw, false, true, true, -1);
    }
}
