package org.tdplab.backend.snp.kvm;

import java.util.List;

import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbSpec;

/** The statements an SNP VM takes, with their typed options. */
public final class Verbs {
    private Verbs() {
    }

    static final VerbSpec LAUNCH_UPDATE = new VerbSpec("snp.launch_update",
            List.of(VerbOption.required("gpa", VerbOption.Type.GPA), VerbOption.required("size", VerbOption.Type.SIZE)),
            List.of("zero", "unmeasured"), "KVM_SEV_SNP_LAUNCH_UPDATE: copy the shared pages of the range into its "
                    + "private guest_memfd pages (zero: zero them) and measure them, pre-validated; hands back the "
                    + "range left undone");
    static final VerbSpec LAUNCH_FINISH = new VerbSpec("snp.launch_finish", List.of(), List.of(),
            "KVM_SEV_SNP_LAUNCH_FINISH: encrypt the VMSAs, finish the launch, allow pre-faulting");
    static final VerbSpec HOST_WRITE = new VerbSpec("snp.host_write",
            List.of(VerbOption.required("gpa", VerbOption.Type.GPA), VerbOption.optional("value",
                    VerbOption.Type.NUMBER)),
            List.of(), "the host kernel writes VALUE to the guest_memfd page behind a private GPA; the RMP refuses it "
                    + "(EFAULT) while the page is guest-assigned");

    /** Every snp verb, in the order help lists them. */
    public static final List<VerbSpec> ALL = List.of(LAUNCH_UPDATE, LAUNCH_FINISH, HOST_WRITE);
}
