package org.tdplab.backend.tdx;

import java.util.Map;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmType;

/**
 * {@code KVM_X86_TDX_VM}: private memory mapped through KVM's mirror root onto the TDX module's Secure-EPT.
 * The shared bit is GPA bit 47 with GPAW 48 (4-level S-EPT) and bit 51 with GPAW 52 (5-level)
 * ({@code TDX_SHARED_BIT_PWL_4/5}).
 */
@Component
@VmType("tdx")
@Capabilities(mirrored__pt = true, private__mem = true, protected__state = true, shared__bit = { "48=47", "52=51" })
public class TdxBackend implements Backend {
    @Override
    public String vmType() {
        return "tdx";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, Map<String, String> options) {
        return new VmCapabilities(vmType(), gpaw, true, true, true, gpaw - 1);
    }
}
