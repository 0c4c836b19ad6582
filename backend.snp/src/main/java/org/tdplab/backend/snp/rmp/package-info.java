/**
 * A simulated AMD SEV-SNP Reverse Map Table, after {@code tdx-snp-hardware.md} Part B: the 16-byte entries, the
 * instructions that change them with their return codes in the hardware's precondition order (RMPUPDATE, PSMASH,
 * PVALIDATE, RMPADJUST), the RMP effect of the AMD-SP commands KVM uses, the checks of an SNP guest's nested walk
 * and of host writes, and the table's invariants (R1, R2, R4, R8).
 *
 * <p>Not modelled: the segmented RMP and RMPREAD, the raw VMPL-permission layout (one byte per VMPL here), VMRUN's
 * own page checks, cache coherence (CLFLUSH/WBINVD), latencies. Values the spec marks unverified are said so where
 * they are used and the return codes are configurable ({@link org.tdplab.backend.snp.rmp.RmpCodes}).
 */
package org.tdplab.backend.snp.rmp;
