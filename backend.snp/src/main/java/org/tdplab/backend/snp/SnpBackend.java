package org.tdplab.backend.snp;

import java.util.List;
import java.util.Map;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.tdplab.backend.snp.kvm.AsidPool;
import org.tdplab.backend.snp.kvm.SnpHost;
import org.tdplab.backend.snp.kvm.SnpOptions;
import org.tdplab.backend.snp.kvm.SnpVm;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.api.backend.VmType;

/**
 * {@code KVM_X86_SNP_VM}: private memory from guest_memfd under the Reverse Map Table; one direct root, no mirror,
 * privateness from the guest's C-bit. Each simulated host (a session of the core: a file of {@code ./tdplab run}, the
 * shell) is one AMD host: its RMP and its ASIDs ({@link SnpHost}, the core's host state) are shared by the VMs of
 * that session, and a new session starts with a fresh one.
 */
@Component(configurationPid = SnpBackend.PID)
@Designate(ocd = SnpBackend.Config.class)
@VmType("snp")
@Capabilities(private__mem = true, protected__state = true)
public class SnpBackend implements Backend {
    /** The RMP holds 4K and 2M pages, so no private leaf is ever larger than 2M. */
    private static final int PG_LEVEL_2M = 2;

    static final String PID = "org.tdplab.backend.snp";

    /**
     * Defaults for new SNP VMs, through ConfigAdmin ({@code org.tdplab.backend.snp.cfg} in {@code load/}); a VM's own
     * options win. A change applies to the next VM without restarting the bundle.
     */
    @ObjectClassDefinition(name = "tdplab SEV-SNP backend", description = "Defaults for new SNP VMs")
    public @interface Config {
        @AttributeDefinition(description = "The SNP guest policy given to SNP_LAUNCH_START (empty: QEMU's default "
                + "0x30000)")
        String policy() default "";

        @AttributeDefinition(description = "Latency table for 'projected hardware time' (counted, never slept): "
                + "entries NAME=NANOSECONDS for an RMP instruction (RMPUPDATE, PSMASH, PVALIDATE, RMPADJUST) or an "
                + "SNP firmware command (SNP_LAUNCH_UPDATE, ...); suffix ns or us allowed; several per value "
                + "separated by commas; '*' prices every operation not named. Laid over the built-in defaults and "
                + "applied to SNP VMs created afterwards. perf-anchors-and-peers.md has no public per-instruction "
                + "number for RMPUPDATE/PSMASH/PVALIDATE/RMPADJUST (section 1b.3), so the default is *=1000, an "
                + "assumed 1 us per operation, to be replaced by measured values")
        String[] latency() default { "*=1000" };
    }

    /** Built-in latency table (see {@link Config#latency()}). */
    public static final FirmwareLatency DEFAULT_LATENCY = FirmwareLatency.parse("*=1000");

    /** The host of the VM attached or restored last, for tests. */
    private volatile SnpHost lastHost;
    private volatile SnpOptions defaults = SnpOptions.defaults();
    private volatile FirmwareLatency latency = DEFAULT_LATENCY;

    /**
     * ConfigAdmin's configuration: applied, or — when the backend refuses it — reported on the console in one line
     * (never as a stack trace) while new SNP VMs keep the settings they had.
     */
    @Activate
    @Modified
    void configure(Config config) {
        try {
            apply(config);
        } catch (MmuException e) {
            System.err.println("tdplab: configuration " + PID + " refused (" + e.getMessage() + "); new SNP VMs keep "
                    + "the previous settings");
        }
    }

    /** Applies a configuration, or refuses it whole ({@code EINVAL}) and keeps the previous one. */
    void apply(Config config) {
        // in the syntax of vm.create's options, typed by the same parser; a bad one is refused here, not at the next VM
        Map<String, String> text = config.policy().isBlank() ? Map.of() : Map.of("policy", config.policy().trim());
        SnpOptions d = SnpOptions.of(VerbArgs.creation(vmType(), SnpOptions.OPTIONS, text), SnpOptions.defaults());
        FirmwareLatency table = DEFAULT_LATENCY.with(config.latency()); // refused here when malformed
        defaults = d;
        latency = table;
    }

    /** The latency table new SNP VMs get. */
    public FirmwareLatency latency() {
        return latency;
    }

    @Override
    public String vmType() {
        return "snp";
    }

    /** Pre-fault is allowed only after SNP_LAUNCH_FINISH; the guest validates (PVALIDATE) its private memory. */
    @Override
    public VmCapabilities capabilities(int gpaw, VerbArgs options) {
        SnpOptions.of(options, defaults);
        return VmCapabilities.ordinary(vmType(), gpaw).withPrivateMemory(PrivateSource.ERROR_CODE, PG_LEVEL_2M)
                .withProtectedState().withPreFaultAllowed(false).withAcceptance();
    }

    @Override
    public VmBackend attach(VmContext vm, VerbArgs options) {
        SnpOptions parsed = SnpOptions.of(options, defaults);
        vm.firmwareLatency(latency); // before launch, which calls firmware; the VM keeps this table
        return new SnpVm(vm, host(vm), parsed);
    }

    /** Takes over a VM from the snapshot a previous SNP backend left (see {@link SnpVm#snapshot()}). */
    @Override
    public VmBackend restore(VmContext vm, VerbArgs options, Map<String, Object> snapshot) {
        return SnpVm.restore(vm, host(vm), SnpOptions.of(options, defaults), snapshot);
    }

    /** The #VC an SNP guest takes (a page it has not validated, an MMIO access): {@code VC}. */
    @Override
    public Map<Integer, String> exceptions() {
        return Map.of(SnpVm.VC_VECTOR, "VC");
    }

    @Override
    public List<VmOption> options() {
        return SnpOptions.OPTIONS;
    }

    @Override
    public List<VerbSpec> verbs() {
        return org.tdplab.backend.snp.kvm.Verbs.ALL;
    }

    /** The AMD host of the VM's session: its RMP and ASIDs, made when the session's first SNP VM is. */
    private SnpHost host(VmContext vm) {
        SnpHost h = vm.hostState(SnpHost.class, () -> new SnpHost(new Rmp(), new AsidPool()));
        lastHost = h;
        return h;
    }

    /** The host of the VM attached or restored last (null before the first), for tests. */
    SnpHost host() {
        return lastHost;
    }

    /**
     * The counters that count firmware calls: the RMP instructions and the SNP firmware commands (the latter are
     * also recorded as calls when made).
     */
    @Override
    public java.util.Set<String> firmwareCalls() {
        return FIRMWARE_CALLS;
    }

    private static final java.util.Set<String> FIRMWARE_CALLS = java.util.Set.of("RMPUPDATE", "PSMASH", "PVALIDATE",
            "RMPADJUST");
}
