/**
 * KVM's TDX logic ({@code arch/x86/kvm/vmx/tdx.c}, 6.19 semantics) between the vendor-neutral core's hooks and the
 * simulated module: mirror hooks to SEAMCALLs, the initial-image and finalize verbs, teardown after the HKID
 * release, options, and the TDX invariants of the mirror root. Private to the bundle.
 */
package org.tdplab.backend.tdx.kvm;
