package org.tdplab.mmu.api.backend;

import org.osgi.service.component.annotations.ComponentPropertyType;

/**
 * Component property type: the capabilities a {@link Backend} advertises as service properties
 * ({@code mmu.cap.mirrored_pt}, {@code mmu.cap.private_mem}, {@code mmu.cap.protected_state},
 * {@code mmu.cap.shared_bit}). They must agree with {@link Backend#capabilities} of a VM with no options (at gpaw 48
 * and 52): the core refuses to bind a service whose properties contradict it, with a log line naming the property and
 * both values; a property left out is derived from it (so a backend may leave this annotation out).
 */
@ComponentPropertyType
public @interface Capabilities {
    String PREFIX_ = "mmu.cap.";

    /** KVM's {@code kvm_has_mirrored_tdp()}: private memory is mapped through a mirror root. */
    boolean mirrored__pt() default false;

    /** {@code kvm_arch_has_private_mem()}. */
    boolean private__mem() default false;

    /** {@code has_protected_state}: no read-only memslots, guest state not readable. */
    boolean protected__state() default false;

    /** Shared (direct) GPA bit per guest physical address width, as {@code "gpaw=bit"}, e.g. {@code "48=47"}. */
    String[] shared__bit() default {};
}
