package com.example.tdplab.template;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.osgi.service.component.annotations.Component;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.Capabilities;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.api.backend.VmType;

/**
 * The VM type {@code template}: private memory from guest_memfd whose privateness the memory attributes decide (as
 * {@code sw_protected}), plus a pretend firmware that is called once per guest_memfd folio it prepares. One
 * {@link Backend} service per VM type, registered by Declarative Services with the {@code mmu.vm.type} and
 * {@code mmu.cap.*} properties the core discovers it by.
 */
@Component
@VmType(TemplateBackend.TYPE)
@Capabilities(private__mem = true)
public class TemplateBackend implements Backend {
    /** The VM type: {@code vm.create NAME type=template}. */
    public static final String TYPE = "template";
    /** The verb this backend contributes: {@code template.limit VM level=N}. */
    public static final String LIMIT = "limit";
    /** The creation option: {@code vm.create NAME type=template max_level=N}. */
    public static final String MAX_LEVEL = "max_level";
    /** The snapshot format this version writes (version 1 is the stateless default every backend may get). */
    static final int SNAPSHOT_FORMAT = 2;

    /** The largest private leaf: 1G, as guest_memfd maps it. */
    private static final int PG_LEVEL_1G = 3;

    /** Typed: the core refuses any other key, or a value that is not a page size, before the backend is called. */
    private static final List<VmOption> OPTIONS = List.of(VmOption.of(MAX_LEVEL, VerbOption.Type.LEVEL,
            "the largest private leaf: 4K, 2M or 1G (default 1G)"));
    private static final List<VerbSpec> VERBS = List.of(new VerbSpec(TYPE + "." + LIMIT,
            List.of(VerbOption.required("level", VerbOption.Type.LEVEL)), List.of(),
            "private leaves at most of this size (4K, 2M or 1G) from now on; larger ones are zapped; the result is "
                    + "the previous size's level"));

    /** Projected hardware time: each firmware call of the template costs 2 us. Counted, never slept. */
    static final FirmwareLatency LATENCY = FirmwareLatency.parse(TemplateVm.PREPARE + "=2us", "*=1000");

    @Override
    public String vmType() {
        return TYPE;
    }

    @Override
    public VmCapabilities capabilities(int gpaw, VerbArgs options) {
        return VmCapabilities.ordinary(TYPE, gpaw).withPrivateMemory(PrivateSource.ATTRIBUTES, maxLevel(options));
    }

    @Override
    public VmBackend attach(VmContext vm, VerbArgs options) {
        vm.firmwareLatency(LATENCY);
        return new TemplateVm(vm, maxLevel(options));
    }

    /**
     * Takes over a live VM from the previous instance of this backend (a bundle update in {@code load/}): the
     * snapshot is plain data, so it reads the same whichever bundle version wrote it.
     */
    @Override
    public VmBackend restore(VmContext vm, VerbArgs options, Map<String, Object> snapshot) {
        Object version = snapshot.get(SNAPSHOT_VERSION);
        if (Integer.valueOf(1).equals(version))
            return attach(vm, options);
        if (!Integer.valueOf(SNAPSHOT_FORMAT).equals(version))
            throw new MmuException(Errno.EINVAL, "VM type %s: snapshot version %s is not 1 or %d", TYPE, version,
                    SNAPSHOT_FORMAT);
        vm.firmwareLatency(LATENCY);
        return TemplateVm.restore(vm, snapshot);
    }

    /** The counters that count firmware calls: what workloads, reports and {@code firmware_calls} add up. */
    @Override
    public Set<String> firmwareCalls() {
        return Set.of(TemplateVm.PREPARE);
    }

    @Override
    public List<VerbSpec> verbs() {
        return VERBS;
    }

    @Override
    public List<VmOption> options() {
        return OPTIONS;
    }

    /** The {@code max_level} option as a level (1 = 4K … 3 = 1G), typed by the core. */
    static int maxLevel(VerbArgs options) {
        return options.level(MAX_LEVEL, PG_LEVEL_1G);
    }
}
