package org.tdplab.backend.tdx;

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
        // private leaves are 4K only; memory-type zaps are unsupported; pre-fault only after finalize;
        // the per-VM MMIO value is 0 so the TD takes a #VE and makes an MMIO hypercall
        return VmCapabilities.ordinary(vmType(), gpaw).withPrivateMemory(PrivateSource.SHARED_BIT, 1)
                .withMirroredPt(gpaw - 1).withProtectedState().withMemtypeZap(false).withPreFaultAllowed(false)
                .withAcceptance().withMmioValue(0);
    }

    @Override
    public VmBackend attach(VmContext vm, Map<String, String> options) {
        throw new MmuException(Errno.ENOTSUP,
                "VM type tdx: the TDX module model is not built yet; the backend only advertises its capabilities");
    }
}
