/**
 * The backend SPI: what a VM-type backend advertises (capabilities) and, from later versions, the hooks the
 * vendor-neutral core calls. Backends register {@link org.tdplab.mmu.api.backend.Backend} services; the core
 * binds VMs to them by the {@code mmu.vm.type} service property.
 */
@Export
@Version("4.10.0")
package org.tdplab.mmu.api.backend;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
