package org.tdplab.backend.legacy;

import java.util.Map;
import java.util.Set;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VmOption;

/** Validation of the {@code k=v} options a VM type accepts. */
final class Options {
    private Options() {
    }

    static void requireKnown(String vmType, Map<String, String> options, java.util.List<VmOption> specs) {
        Set<String> known = new java.util.TreeSet<>();
        specs.forEach(o -> known.add(o.key()));
        for (String key : options.keySet())
            if (!known.contains(key))
                throw new MmuException(Errno.EINVAL, "option '%s' is not known to VM type %s; known: %s", key, vmType,
                        known.isEmpty() ? "none" : String.join(", ", known.stream().sorted().toList()));
    }

    /** An {@code on|off} option, {@code otherwise} when not given. */
    static boolean onOff(String vmType, Map<String, String> options, String key, boolean otherwise) {
        String value = options.get(key);
        if (value == null)
            return otherwise;
        return switch (value) {
        case "on" -> true;
        case "off" -> false;
        default -> throw new MmuException(Errno.EINVAL, "%s=%s: VM type %s takes on or off", key, value, vmType);
        };
    }

    static final String AD = "ad", NX_HUGE_PAGES = "nx_huge_pages", NX_RECOVERY_RATIO = "nx_recovery_ratio",
            PML = "pml";
    /** The MMU options every ordinary VM type takes. */
    static final java.util.List<VmOption> MMU = java.util.List.of(
            new VmOption(AD, "on|off", "EPT A/D bits (default on); off ages by access tracking"),
            new VmOption(NX_HUGE_PAGES, "on|off", "the NX huge page mitigation: exec faults split huge pages "
                    + "(default off)"),
            new VmOption(NX_RECOVERY_RATIO, "N", "a recovery pass zaps ceil(nx_lpage_splits / N) split pages; "
                    + "0 = never (default 60)"),
            new VmOption(PML, "on|off", "dirty logging by D bits and a page-modification log instead of write "
                    + "protection; needs ad=on (default off)"));

    /**
     * {@code ad=on|off}, {@code nx_huge_pages=on|off}, {@code nx_recovery_ratio=N} (default 60, as the kernel),
     * {@code pml=on|off} (dirty logging by D bits and a page-modification log; needs {@code ad=on}).
     */
    static org.tdplab.mmu.api.backend.VmCapabilities applyMmu(String vmType, Map<String, String> options,
            org.tdplab.mmu.api.backend.VmCapabilities caps) {
        int ratio = 60;
        String r = options.get(NX_RECOVERY_RATIO);
        if (r != null) {
            try {
                ratio = Integer.parseInt(r);
            } catch (NumberFormatException e) {
                ratio = -1;
            }
            if (ratio < 0)
                throw new MmuException(Errno.EINVAL, "%s=%s: VM type %s takes a number >= 0", NX_RECOVERY_RATIO, r,
                        vmType);
        }
        return caps.withAdDisabled(!onOff(vmType, options, AD, true))
                .withNxHugePages(onOff(vmType, options, NX_HUGE_PAGES, false), ratio)
                .withDirtyLogByDirtyBit(onOff(vmType, options, PML, false));
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
