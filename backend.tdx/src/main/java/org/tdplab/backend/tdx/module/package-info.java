/**
 * A simulated Intel TDX module (hardware spec Part A): TDR/TDCS lifecycle and HKID, OP_STATE, Secure-EPT entry
 * states in packed pages, the PAMT, the TD and vCPU epochs of TLB tracking, the S-EPT SEAMCALL leaves with their
 * preconditions in the spec's order and the 1.0 / 1.5 status codes, the guest's TDG.MEM.PAGE.ACCEPT and the
 * hardware's S-EPT walk, and seeded TDX_OPERAND_BUSY injection. Knows nothing of KVM. Private to the bundle.
 */
package org.tdplab.backend.tdx.module;
