/**
 * KVM's side of SEV-SNP ({@code arch/x86/kvm/svm/sev.c}, the host wrappers of {@code arch/x86/virt/svm/sev.c}) and
 * what a Linux guest does with PVALIDATE, driving the simulated RMP: ASIDs, the launch flow (SNP_LAUNCH_UPDATE,
 * VMSAs, SNP_LAUNCH_FINISH, SNP_DECOMMISSION), guest_memfd prepare/invalidate, the private max mapping level, RMP
 * #NPF handling with PSMASH, host-write refusal, and the VM's RMP invariants (R3, R5, R9).
 *
 * <p>Not modelled: the GHCB page-state-change protocol itself (the core's conversion stands for it), SNP guest
 * requests and attestation, AP creation, VMSAs in use while vCPUs run (FAIL_INUSE is modelled in the RMP only),
 * RMPADJUST from a guest (no statement issues it; its counter stays 0), firmware error values.
 */
package org.tdplab.backend.snp.kvm;
