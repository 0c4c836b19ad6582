package org.tdplab.backend.snp.kvm;

import java.util.List;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption.Type;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * The {@code k=v} options of an snp VM ({@code vm.create VM type=snp [policy=P]}).
 *
 * @param policy the SNP guest policy given to SNP_LAUNCH_START ({@code kvm_sev_snp_launch_start.policy}), checked
 *     as {@code snp_launch_start} does
 */
public record SnpOptions(long policy) {
    /** SNP guest policy bits (SEV-SNP firmware ABI, "Guest Policy"). */
    static final long POLICY_API_MINOR = 0xffL, POLICY_API_MAJOR = 0xffL << 8, POLICY_SMT = 1L << 16,
            POLICY_RSVD_MBO = 1L << 17, POLICY_DEBUG = 1L << 19, POLICY_SINGLE_SOCKET = 1L << 20;
    static final long POLICY_VALID = POLICY_API_MINOR | POLICY_API_MAJOR | POLICY_SMT | POLICY_RSVD_MBO
            | POLICY_DEBUG | POLICY_SINGLE_SOCKET;
    /** QEMU's default: SMT allowed, plus the must-be-one bit. */
    public static final long DEFAULT_POLICY = POLICY_SMT | POLICY_RSVD_MBO;

    /** The options, as {@code Backend.options()} lists them. */
    public static final List<VmOption> OPTIONS = List.of(VmOption.of("policy", Type.NUMBER, "the SNP guest policy "
            + "given to SNP_LAUNCH_START, checked as snp_launch_start does: bit 17 must be set, only the API version, "
            + "SMT, debug and single-socket bits may be (default 0x30000, QEMU's)"));

    public static SnpOptions defaults() {
        return new SnpOptions(DEFAULT_POLICY);
    }

    /**
     * A VM's options: what it was created with (typed by the core against {@link #OPTIONS}) over {@code defaults}.
     *
     * @throws MmuException EINVAL for a policy KVM refuses
     */
    public static SnpOptions of(VerbArgs args, SnpOptions defaults) {
        long policy = args.number("policy", defaults.policy);
        if ((policy & ~POLICY_VALID) != 0)
            throw new MmuException(Errno.EINVAL, "policy=0x%x has bits KVM does not allow: 0x%x", policy,
                    policy & ~POLICY_VALID);
        if ((policy & POLICY_RSVD_MBO) == 0)
            throw new MmuException(Errno.EINVAL, "policy=0x%x lacks bit 17, which must be one", policy);
        return new SnpOptions(policy);
    }
}
