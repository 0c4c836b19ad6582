package org.tdplab.backend.legacy;

import java.util.List;
import java.util.stream.Stream;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption.Type;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.api.backend.VmType;

/**
 * {@code KVM_X86_DEFAULT_VM}: no private memory, no mirror, no firmware. Option {@code slot_zap_all=on|off}
 * (default on) is {@code KVM_X86_QUIRK_SLOT_ZAP_ALL}: with it, deleting or moving a memslot fast-zaps every direct
 * root; without it (userspace disabled the quirk) only the slot's range is zapped.
 */
@Component
@VmType("default")
@Capabilities
public class DefaultVmBackend implements Backend {
    static final String SLOT_ZAP_ALL = "slot_zap_all";
    private static final List<VmOption> OPTIONS = Stream.concat(Stream.of(VmOption.of(SLOT_ZAP_ALL, Type.BOOLEAN,
            "KVM_X86_QUIRK_SLOT_ZAP_ALL: deleting or moving a memslot zaps every root (default on); off zaps only "
                    + "the slot's range")), Options.MMU.stream()).toList();

    @Override
    public String vmType() {
        return "default";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, VerbArgs options) {
        return Options.applyMmu(options, VmCapabilities.ordinary(vmType(), gpaw)
                .withSlotZapAll(options.bool(SLOT_ZAP_ALL, true)));
    }

    @Override
    public List<VmOption> options() {
        return OPTIONS;
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
