package org.tdplab.backend.legacy;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption.Type;
import org.tdplab.mmu.api.backend.VmOption;

/** The MMU options every ordinary VM type takes, typed by the core ({@link VmOption}). */
final class Options {
    private Options() {
    }

    static final String AD = "ad", NX_HUGE_PAGES = "nx_huge_pages", NX_RECOVERY_RATIO = "nx_recovery_ratio",
            PML = "pml";
    /** The MMU options every ordinary VM type takes. */
    static final java.util.List<VmOption> MMU = java.util.List.of(
            VmOption.of(AD, Type.BOOLEAN, "EPT A/D bits (default on); off ages by access tracking"),
            VmOption.of(NX_HUGE_PAGES, Type.BOOLEAN, "the NX huge page mitigation: exec faults split huge pages "
                    + "(default off)"),
            VmOption.of(NX_RECOVERY_RATIO, Type.NUMBER, "a recovery pass zaps ceil(nx_lpage_splits / N) split "
                    + "pages; 0 = never (default 60)"),
            VmOption.of(PML, Type.BOOLEAN, "dirty logging by D bits and a page-modification log instead of write "
                    + "protection; needs ad=on (default off)"));

    /**
     * {@code ad=on|off}, {@code nx_huge_pages=on|off}, {@code nx_recovery_ratio=N} (default 60, as the kernel),
     * {@code pml=on|off} (dirty logging by D bits and a page-modification log; needs {@code ad=on}).
     */
    static org.tdplab.mmu.api.backend.VmCapabilities applyMmu(VerbArgs options,
            org.tdplab.mmu.api.backend.VmCapabilities caps) {
        long ratio = options.number(NX_RECOVERY_RATIO, 60);
        if (ratio > Integer.MAX_VALUE)
            throw new MmuException(Errno.EINVAL, "%s=%d: VM type %s takes a number up to %d", NX_RECOVERY_RATIO,
                    ratio, caps.vmType(), Integer.MAX_VALUE);
        return caps.withAdDisabled(!options.bool(AD, true))
                .withNxHugePages(options.bool(NX_HUGE_PAGES, false), (int) ratio)
                .withDirtyLogByDirtyBit(options.bool(PML, false));
    }

    static final String NX_RECOVER = "nx_recover";

    static java.util.List<org.tdplab.mmu.api.backend.VerbSpec> nxRecoverVerb(String vmType) {
        return java.util.List.of(new org.tdplab.mmu.api.backend.VerbSpec(vmType + "." + NX_RECOVER,
                java.util.List.of(), java.util.List.of(),
                "one pass of the NX huge page recovery worker (kvm_recover_nx_huge_pages); the result is the number "
                        + "of split huge pages it zapped"));
    }

    /** No firmware and no vendor hooks: the core's defaults, plus the verb that runs the core's NX recovery. */
    static org.tdplab.mmu.api.backend.VmBackend mmuVerbs(org.tdplab.mmu.api.backend.VmContext vm) {
        return new org.tdplab.mmu.api.backend.VmBackend() {
            @Override
            public org.tdplab.mmu.api.backend.VerbResult invoke(String verb,
                    org.tdplab.mmu.api.backend.VerbArgs args) {
                if (!verb.equals(NX_RECOVER))
                    throw new MmuException(Errno.ENOTSUP, "no verb '%s'", verb);
                return org.tdplab.mmu.api.backend.VerbResult.count(vm.recoverNxHugePages());
            }
        };
    }
}
