package org.tdplab.backend.snp;

import java.util.Map;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
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
        return VmCapabilities.ordinary(vmType(), gpaw).withPrivateMemory(PrivateSource.ERROR_CODE, 3)
                .withProtectedState().withPreFaultAllowed(false).withAcceptance();
    }

    @Override
    public VmBackend attach(VmContext vm, Map<String, String> options) {
        throw new MmuException(Errno.ENOTSUP,
                "VM type snp: the RMP model is not built yet; the backend only advertises its capabilities");
    }
}
