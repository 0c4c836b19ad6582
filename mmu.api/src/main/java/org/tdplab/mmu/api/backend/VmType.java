package org.tdplab.mmu.api.backend;

import org.osgi.service.component.annotations.ComponentPropertyType;

/** Component property type: {@code mmu.vm.type=<value>} on a {@link Backend} service. */
@ComponentPropertyType
public @interface VmType {
    String PREFIX_ = "mmu.";

    String value();
}
