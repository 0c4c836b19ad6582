package org.tdplab.mmu.api;

import org.osgi.annotation.versioning.ProviderType;
import org.tdplab.mmu.api.backend.VmCapabilities;

/** A VM created by the {@link VmManager}. */
@ProviderType
public interface Vm {
    String name();

    String type();

    int vcpus();

    /** The capabilities its backend gave for this VM's configuration. */
    VmCapabilities capabilities();

    /** Tears the VM down in the kernel's order. */
    void destroy();
}
