package org.tdplab.backend.tdx.kvm;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * The {@code vm.create … type=tdx} options: {@code module=1.0|1.5} (status codes of that module version, default
 * 1.5), {@code sept_ve_disable=on|off} (the TD attribute KVM sets, default on), {@code busy_rate=P} (probability in
 * [0, 1] that a contended module lock is found busy, default 0), {@code seed=N} (for the busy draws, default 0) and
 * {@code memtype_zap=zap|bug}: what {@code kvm_zap_gfn_range} does to the TD — mainline's leaf zap of every valid
 * root, private leaves removed from the S-EPT (default), or the seed RFC's {@code KVM_BUG_ON} — and
 * {@code huge_pages=on|off} (2M private leaves as KVM's TDX huge page series maps them, default off as in mainline;
 * needs the 1.5 module, see {@code docs/tdx-huge-pages.md}).
 *
 * @param version the module version
 * @param septVeDisable TD attribute SEPT_VE_DISABLE
 * @param busyRate the busy injection rate
 * @param seed the busy injection seed
 * @param memtypeZapBugs whether a memory-type zap bugs the TD (the seed RFC) instead of zapping it (mainline)
 * @param hugePages private leaves up to 2M ({@code tdx_huge_page})
 */
public record TdxOptions(TdxModule.Version version, boolean septVeDisable, double busyRate, long seed,
        boolean memtypeZapBugs, boolean hugePages) {
    /** The options, as {@code Backend.options()} lists them. */
    public static final List<VmOption> OPTIONS = List.of(
            new VmOption("module", "1.0|1.5", "the TDX module version whose status codes apply (default 1.5)"),
            new VmOption("sept_ve_disable", "on|off", "the SEPT_VE_DISABLE TD attribute: on, a guest access to a "
                    + "PENDING page kills the TD; off, it takes a #VE (default on)"),
            new VmOption("busy_rate", "P", "probability in [0, 1] that a contended module lock is found busy "
                    + "(TDX_OPERAND_BUSY injection; default 0)"),
            new VmOption("seed", "N", "seed of the busy injection draws (default 0)"),
            new VmOption("memtype_zap", "zap|bug", "kvm_zap_gfn_range on the TD: zap removes its private pages "
                    + "through BLOCK, TRACK, REMOVE (mainline 6.16+, default); bug is the seed RFC's KVM_BUG_ON"),
            new VmOption("huge_pages", "on|off", "private leaves up to 2M as the TDX huge page series maps them "
                    + "(module 1.5 only; default off, like mainline)"));
    public static final Set<String> KNOWN = OPTIONS.stream().map(VmOption::key).collect(Collectors.toSet());

    public static TdxOptions defaults() {
        return new TdxOptions(TdxModule.Version.V1_5, true, 0, 0, false, false);
    }

    /** An on|off option, absent = {@code fallback}. */
    private static boolean onOff(Map<String, String> options, String key, boolean fallback) {
        String v = options.get(key);
        if (v == null)
            return fallback;
        return switch (v) {
        case "on" -> true;
        case "off" -> false;
        default -> throw new MmuException(Errno.EINVAL, "%s=%s: must be on or off", key, v);
        };
    }

    /** @throws MmuException {@code EINVAL} naming an unknown option or a bad value */
    public static TdxOptions parse(Map<String, String> options) {
        for (String key : options.keySet())
            if (!KNOWN.contains(key))
                throw new MmuException(Errno.EINVAL, "option '%s' is not known to VM type tdx; known: %s", key,
                        String.join(", ", new TreeSet<>(KNOWN)));
        TdxModule.Version version = TdxModule.Version.V1_5;
        String m = options.get("module");
        if (m != null) {
            version = switch (m) {
            case "1.0" -> TdxModule.Version.V1_0;
            case "1.5" -> TdxModule.Version.V1_5;
            default -> throw new MmuException(Errno.EINVAL, "module=%s: the TDX module version must be 1.0 or 1.5", m);
            };
        }
        boolean veDisable = onOff(options, "sept_ve_disable", true);
        boolean hugePages = onOff(options, "huge_pages", false);
        // KVM turns huge pages off on a module without ENHANCED_DEMOTE_INTERRUPTIBILITY (TDX 1.5.28 and later)
        if (hugePages && version != TdxModule.Version.V1_5)
            throw new MmuException(Errno.EINVAL, "huge_pages=on needs module=1.5: TDX module %s cannot demote a 2M "
                    + "page without being interrupted (no ENHANCED_DEMOTE_INTERRUPTIBILITY)", version.label());
        double rate = 0;
        String r = options.get("busy_rate");
        if (r != null) {
            try {
                rate = Double.parseDouble(r);
            } catch (NumberFormatException e) {
                rate = Double.NaN;
            }
            if (!(rate >= 0 && rate <= 1))
                throw new MmuException(Errno.EINVAL, "busy_rate=%s: must be a probability between 0 and 1", r);
        }
        long seed = 0;
        String s = options.get("seed");
        if (s != null) {
            try {
                seed = Numbers.parse(s);
            } catch (NumberFormatException e) {
                throw new MmuException(Errno.EINVAL, "seed=%s: not a number", s);
            }
        }
        String zap = options.getOrDefault("memtype_zap", "zap");
        if (!zap.equals("zap") && !zap.equals("bug"))
            throw new MmuException(Errno.EINVAL, "memtype_zap=%s: must be zap (mainline) or bug (the seed RFC's "
                    + "KVM_BUG_ON)", zap);
        return new TdxOptions(version, veDisable, rate, seed, zap.equals("bug"), hugePages);
    }
}
