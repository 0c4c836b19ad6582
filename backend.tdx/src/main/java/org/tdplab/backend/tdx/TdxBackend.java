package org.tdplab.backend.tdx;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.osgi.service.metatype.annotations.Option;
import org.tdplab.backend.tdx.kvm.HkidPool;
import org.tdplab.backend.tdx.kvm.TdxOptions;
import org.tdplab.backend.tdx.kvm.TdxVm;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.api.backend.VmType;

/**
 * {@code KVM_X86_TDX_VM}: private memory mapped through KVM's mirror root onto the TDX module's Secure-EPT.
 * The shared bit is GPA bit 47 with GPAW 48 (4-level S-EPT) and bit 51 with GPAW 52 (5-level)
 * ({@code TDX_SHARED_BIT_PWL_4/5}). Each TD gets its own simulated TDX module ({@code .module}) driven by KVM's
 * TDX logic ({@code .kvm}); the platform's HKIDs ({@link HkidPool}, the core's host state) are shared by the TDs of
 * one simulated host (a session of the core: a file of {@code ./tdplab run}, the shell), fresh for each session.
 */
@Component(configurationPid = TdxBackend.PID)
@Designate(ocd = TdxBackend.Config.class)
@VmType("tdx")
@Capabilities(mirrored__pt = true, private__mem = true, protected__state = true, shared__bit = { "48=47", "52=51" })
public class TdxBackend implements Backend {
    static final String PID = "org.tdplab.backend.tdx";

    /**
     * Defaults for new TDs, through ConfigAdmin (a {@code org.tdplab.backend.tdx.cfg} in {@code load/} works); a TD's
     * own {@code vm.create} options win. A change applies to the next TD without restarting the bundle.
     */
    @ObjectClassDefinition(name = "tdplab TDX backend", description = "Defaults for new TDs; the "
            + "options a TD is created with win over these")
    public @interface Config {
        @AttributeDefinition(description = "TDX module version whose status codes apply", options = {
                @Option(label = "TDX module 1.0", value = "1.0"), @Option(label = "TDX module 1.5", value = "1.5") })
        String module() default "1.5";

        @AttributeDefinition(description = "Probability in [0, 1] that a contended module lock is found busy "
                + "(TDX_OPERAND_BUSY injection)")
        String busy__rate() default "0";

        @AttributeDefinition(description = "Seed of the BUSY injection draws")
        String seed() default "0";

        @AttributeDefinition(description = "The SEPT_VE_DISABLE TD attribute KVM sets")
        boolean sept__ve__disable() default true;

        @AttributeDefinition(description = "What kvm_zap_gfn_range (a memory-type change) does to a TD: zap its "
                + "leaves in every valid root, private ones removed from the S-EPT (mainline), or bug the TD "
                + "(KVM_BUG_ON, the seed RFC)", options = { @Option(label = "zap (mainline)", value = "zap"),
                        @Option(label = "bug (seed RFC)", value = "bug") })
        String memtype__zap() default "zap";

        @AttributeDefinition(description = "Private leaves up to 2M, as KVM's TDX huge page series maps them "
                + "(tdx_huge_page; needs module 1.5)")
        boolean huge__pages() default false;

        @AttributeDefinition(description = "Dynamic PAMT: the 4K PAMT entries of a 2M range added with "
                + "TDH.PHYMEM.PAMT.ADD when the TD first holds a 4K page there (tdx_pamt_get; needs module 1.5, "
                + "not with huge pages)")
        boolean dynamic__pamt() default false;

        @AttributeDefinition(description = "Latency table for 'projected hardware time' (counted, never slept): "
                + "entries LEAF=NANOSECONDS (suffix ns or us allowed; several per value separated by commas; "
                + "'*' prices every leaf not named), laid over the built-in defaults and applied to TDs created "
                + "afterwards. Defaults, from perf-anchors-and-peers.md: TDH.MEM.PAGE.AUG=4000 and "
                + "TDG.MEM.PAGE.ACCEPT=500 split the ~8 us end-to-end private 4K fault (TD exit + AUG + accept, "
                + "Dstack-TEE/dstack#1220, section 1b.2) after the 3 us the workloads already price per fault "
                + "(a lazily accepted page takes two ACCEPTs: the one that exits and the retry); "
                + "there is no public per-SEAMCALL cycle count (section 1b.3), so every other leaf gets *=1000, "
                + "an assumed 1 us SEAMCALL round trip. TDH.VP.ENTER is not priced (the fault anchor includes the "
                + "TD exit and entry)")
        String[] latency() default { "TDH.MEM.PAGE.AUG=4000", "TDG.MEM.PAGE.ACCEPT=500", "*=1000" };
    }

    /** Built-in latency table (see {@link Config#latency()} for the sources). */
    public static final FirmwareLatency DEFAULT_LATENCY = FirmwareLatency.parse("TDH.MEM.PAGE.AUG=4000",
            "TDG.MEM.PAGE.ACCEPT=500", "*=1000");

    private volatile TdxOptions defaults = TdxOptions.defaults();
    private volatile FirmwareLatency latency = DEFAULT_LATENCY;

    /**
     * ConfigAdmin's configuration: applied, or — when the backend refuses it — reported on the console in one line
     * (never as a stack trace) while new TDs keep the settings they had.
     */
    @Activate
    @Modified
    void configure(Config config) {
        try {
            apply(config);
        } catch (MmuException e) {
            System.err.println("tdplab: configuration " + PID + " refused (" + e.getMessage() + "); new TDs keep "
                    + "the previous settings");
        }
    }

    /** Applies a configuration, or refuses it whole ({@code EINVAL}) and keeps the previous one. */
    void apply(Config config) {
        // in the syntax of vm.create's options, typed by the same parser; a bad one is refused here, not at the next TD
        Map<String, String> text = new LinkedHashMap<>();
        text.put("module", config.module());
        text.put("busy_rate", config.busy__rate().trim());
        text.put("seed", config.seed().trim());
        text.put("sept_ve_disable", config.sept__ve__disable() ? "on" : "off");
        text.put("memtype_zap", config.memtype__zap());
        text.put("huge_pages", config.huge__pages() ? "on" : "off");
        text.put("dynamic_pamt", config.dynamic__pamt() ? "on" : "off");
        TdxOptions d = TdxOptions.of(VerbArgs.creation(vmType(), TdxOptions.OPTIONS, text), TdxOptions.defaults());
        FirmwareLatency table = DEFAULT_LATENCY.with(config.latency()); // refused here when malformed
        defaults = d;
        latency = table;
    }

    /** The latency table new TDs get. */
    public FirmwareLatency latency() {
        return latency;
    }

    @Override
    public String vmType() {
        return "tdx";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, VerbArgs options) {
        TdxOptions parsed = TdxOptions.of(options, defaults);
        // private leaves are 4K only (2M with huge_pages=on); memory-type zaps zap (mainline) or bug the TD
        // (memtype_zap=bug); pre-fault only after finalize; the per-VM MMIO value is 0 so the TD takes a #VE and
        // makes an MMIO hypercall
        return VmCapabilities.ordinary(vmType(), gpaw).withPrivateMemory(PrivateSource.SHARED_BIT,
                parsed.hugePages() ? 2 : 1)
                .withMirroredPt(gpaw - 1).withProtectedState().withMemtypeZap(!parsed.memtypeZapBugs())
                .withPreFaultAllowed(false)
                .withAcceptance().withMmioValue(0);
    }

    /** {@code tdx_vm_init} and {@code KVM_TDX_INIT_VM} / {@code KVM_TDX_INIT_VCPU}: the TD is built and initialized. */
    @Override
    public VmBackend attach(VmContext vm, VerbArgs options) {
        TdxOptions parsed = TdxOptions.of(options, defaults);
        vm.firmwareLatency(latency); // before the TD build, which calls SEAMCALLs; the TD keeps this table
        return new TdxVm(vm, parsed, hkids(vm));
    }

    /** Takes over a TD from the snapshot a previous TDX backend left (see {@link TdxVm#snapshot()}). */
    @Override
    public VmBackend restore(VmContext vm, VerbArgs options, Map<String, Object> snapshot) {
        return TdxVm.restore(vm, TdxOptions.of(options, defaults), hkids(vm), snapshot);
    }

    /** The HKIDs of the TD's platform: one pool per simulated host (session). */
    private static HkidPool hkids(VmContext vm) {
        return vm.hostState(HkidPool.class, HkidPool::new);
    }

    /** Every SEAMCALL leaf (and the guest's TDCALLs the model counts) is a firmware call; TDX_OPERAND_BUSY is not. */
    @Override
    public java.util.Set<String> firmwareCalls() {
        return FIRMWARE_CALLS;
    }

    private static final java.util.Set<String> FIRMWARE_CALLS = java.util.Arrays.stream(
            org.tdplab.backend.tdx.module.Seamcall.values()).map(org.tdplab.backend.tdx.module.Seamcall::intelName)
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    /** The #VE a TD's guest takes (a PENDING page with SEPT_VE_DISABLE off, an MMIO access): {@code VE}. */
    @Override
    public Map<Integer, String> exceptions() {
        return Map.of(TdxVm.VE_VECTOR, "VE");
    }

    @Override
    public List<VmOption> options() {
        return TdxOptions.OPTIONS;
    }

    @Override
    public List<VerbSpec> verbs() {
        return TdxVm.VERBS;
    }
}
