/**
 * The public API of the tdplab TDP MMU model: create VMs of a type, and (from later versions) drive memslots,
 * memory attributes, guest accesses and zaps the way a VMM and a guest drive KVM.
 */
@Export
@Version("3.3.0")
package org.tdplab.mmu.api;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
