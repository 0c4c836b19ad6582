package org.tdplab.backend.tdx.kvm;

import java.math.BigDecimal;
import java.util.List;

import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption.Type;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * The {@code vm.create … type=tdx} options: {@code module=1.0|1.5} (status codes of that module version, default
 * 1.5), {@code sept_ve_disable=on|off} (the TD attribute KVM sets, default on), {@code busy_rate=P} (probability in
 * [0, 1] that a contended module lock is found busy, default 0), {@code seed=N} (for the busy draws, default 0) and
 * {@code memtype_zap=zap|bug}: what {@code kvm_zap_gfn_range} does to the TD — mainline's leaf zap of every valid
 * root, private leaves removed from the S-EPT (default), or the seed RFC's {@code KVM_BUG_ON} — and
 * {@code huge_pages=on|off} (2M private leaves as KVM's TDX huge page series maps them, default off as in mainline;
 * needs the 1.5 module, see {@code docs/tdx-huge-pages.md}), {@code dynamic_pamt=on|off} (Dynamic PAMT: a 2M range's
 * 4K PAMT entries added when the TD first holds a 4K page there, as tip's x86/tdx of 2026-09 does; default off).
 *
 * @param version the module version
 * @param septVeDisable TD attribute SEPT_VE_DISABLE
 * @param busyRate the busy injection rate
 * @param seed the busy injection seed
 * @param memtypeZapBugs whether a memory-type zap bugs the TD (the seed RFC) instead of zapping it (mainline)
 * @param hugePages private leaves up to 2M ({@code tdx_huge_page})
 * @param dynamicPamt Dynamic PAMT ({@code tdx_supports_dynamic_pamt})
 */
public record TdxOptions(TdxAbi.Version version, boolean septVeDisable, double busyRate, long seed,
        boolean memtypeZapBugs, boolean hugePages, boolean dynamicPamt) {
    /** The options, as {@code Backend.options()} lists them. */
    public static final List<VmOption> OPTIONS = List.of(
            VmOption.choice("module", "the TDX module version whose status codes apply (default 1.5)", "1.0", "1.5"),
            VmOption.of("sept_ve_disable", Type.BOOLEAN, "the SEPT_VE_DISABLE TD attribute: on, a guest access to a "
                    + "PENDING page kills the TD; off, it takes a #VE (default on)"),
            VmOption.of("busy_rate", Type.DECIMAL, "probability in [0, 1] that a contended module lock is found busy "
                    + "(TDX_OPERAND_BUSY injection; default 0)"),
            VmOption.of("seed", Type.NUMBER, "seed of the busy injection draws (default 0)"),
            VmOption.choice("memtype_zap", "kvm_zap_gfn_range on the TD: zap removes its private pages through "
                    + "BLOCK, TRACK, REMOVE (mainline 6.16+, default); bug is the seed RFC's KVM_BUG_ON", "zap", "bug"),
            VmOption.of("huge_pages", Type.BOOLEAN, "private leaves up to 2M as the TDX huge page series maps them "
                    + "(module 1.5 only; default off, like mainline)"),
            VmOption.of("dynamic_pamt", Type.BOOLEAN, "Dynamic PAMT: a 2M range's 4K PAMT entries are added "
                    + "(TDH.PHYMEM.PAMT.ADD) when the TD first holds a 4K page there and removed with its last "
                    + "(module 1.5 only; with huge_pages, a 2M page's DEMOTE takes the pair; default off)"));

    public static TdxOptions defaults() {
        return new TdxOptions(TdxAbi.Version.V1_5, true, 0, 0, false, false, false);
    }

    /**
     * A TD's options: what it was created with (typed by the core against {@link #OPTIONS}) over {@code defaults}
     * (the configured ones).
     *
     * @throws MmuException {@code EINVAL} naming a value or combination KVM refuses
     */
    public static TdxOptions of(VerbArgs args, TdxOptions defaults) {
        return checked(args.word("module", defaults.version.label()), args.bool("sept_ve_disable",
                defaults.septVeDisable), args.decimal("busy_rate", defaults.busyRate), args.number("seed",
                        defaults.seed), args.word("memtype_zap", defaults.memtypeZapBugs ? "bug" : "zap"),
                args.bool("huge_pages", defaults.hugePages), args.bool("dynamic_pamt", defaults.dynamicPamt));
    }

    /**
     * Options from their values (a configuration's, or a TD's over it), checked as KVM checks them.
     *
     * @throws MmuException {@code EINVAL} naming the value: a module version other than 1.0 or 1.5, a busy rate
     *     outside [0, 1], a memory-type zap other than zap or bug, huge pages or Dynamic PAMT on module 1.0, both
     *     together
     */
    public static TdxOptions checked(String module, boolean septVeDisable, double busyRate, long seed,
            String memtypeZap, boolean hugePages, boolean dynamicPamt) {
        TdxAbi.Version version = switch (module) {
        case "1.0" -> TdxAbi.Version.V1_0;
        case "1.5" -> TdxAbi.Version.V1_5;
        default -> throw new MmuException(Errno.EINVAL, "module=%s: the TDX module version must be 1.0 or 1.5",
                module);
        };
        // KVM turns huge pages off on a module without ENHANCED_DEMOTE_INTERRUPTIBILITY (TDX 1.5.28 and later)
        if (hugePages && version != TdxAbi.Version.V1_5)
            throw new MmuException(Errno.EINVAL, "huge_pages=on needs module=1.5: TDX module %s cannot demote a 2M "
                    + "page without being interrupted (no ENHANCED_DEMOTE_INTERRUPTIBILITY)", version.label());
        if (dynamicPamt && version != TdxAbi.Version.V1_5)
            throw new MmuException(Errno.EINVAL, "dynamic_pamt=on needs module=1.5: TDX module %s has no "
                    + "TDH.PHYMEM.PAMT.ADD", version.label());
        if (!(busyRate >= 0 && busyRate <= 1))
            throw new MmuException(Errno.EINVAL, "busy_rate=%s: must be a probability between 0 and 1",
                    BigDecimal.valueOf(busyRate).stripTrailingZeros().toPlainString());
        if (!memtypeZap.equals("zap") && !memtypeZap.equals("bug"))
            throw new MmuException(Errno.EINVAL, "memtype_zap=%s: must be zap (mainline) or bug (the seed RFC's "
                    + "KVM_BUG_ON)", memtypeZap);
        return new TdxOptions(version, septVeDisable, busyRate, seed, memtypeZap.equals("bug"), hugePages,
                dynamicPamt);
    }
}
