package com.example.tdplab.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/** The backend on its own, against a recording stand-in for the core's {@link VmContext}. */
class TemplateBackendTest {
    private final TemplateBackend backend = new TemplateBackend();
    private final List<String> calls = new ArrayList<>();
    private FirmwareLatency latency;

    /**
     * The core's side of one VM as far as this backend uses it: it records the calls the backend makes. A proxy, so
     * methods the core's interface gains later need nothing here.
     */
    private VmContext context(VmCapabilities caps) {
        return (VmContext) Proxy.newProxyInstance(VmContext.class.getClassLoader(), new Class<?>[] { VmContext.class },
                (proxy, method, args) -> switch (method.getName()) {
                case "name" -> "vm";
                case "capabilities" -> caps;
                case "firmwareCall" -> record("firmwareCall %s gfn=0x%x level=%d %s", args);
                case "zapGfnRange" -> record("zapGfnRange 0x%x +0x%x", args);
                case "firmwareLatency" -> {
                    latency = (FirmwareLatency) args[0];
                    yield null;
                }
                default -> throw new AssertionError("the template does not call VmContext." + method.getName());
                });
    }

    private Object record(String format, Object[] args) {
        calls.add(String.format(format, args));
        return null;
    }

    /** The options as the core hands them over: typed against {@link TemplateBackend#options()}. */
    private VerbArgs options(Map<String, String> text) {
        return VerbArgs.creation(TemplateBackend.TYPE, backend.options(), text);
    }

    private VmBackend attach(Map<String, String> text) {
        VerbArgs options = options(text);
        return backend.attach(context(backend.capabilities(48, options)), options);
    }

    @Test
    void capabilitiesArePrivateMemoryByAttributesUpToTheOptionsLevel() {
        VmCapabilities caps = backend.capabilities(48, options(Map.of()));
        assertEquals(PrivateSource.ATTRIBUTES, caps.privateSource());
        assertTrue(caps.privateMem());
        assertEquals(3, caps.privateMaxLevel());
        assertEquals(2, backend.capabilities(52, options(Map.of("max_level", "2M"))).privateMaxLevel());
    }

    @Test
    void badOptionsAreRefusedNamingTheValue() {
        // what the core does with vm.create's text before the backend sees it, against the declared options
        MmuException unknown = assertThrows(MmuException.class, () -> options(Map.of("colour", "red")));
        assertEquals(Errno.EINVAL, unknown.errno());
        assertTrue(unknown.getMessage().contains("'colour'"), unknown.getMessage());
        MmuException level = assertThrows(MmuException.class, () -> options(Map.of("max_level", "4")));
        assertEquals(Errno.EINVAL, level.errno());
        assertTrue(level.getMessage().contains("max_level=4"), level.getMessage());
    }

    @Test
    void eachPreparedFolioIsAFirmwareCallPricedByTheTable() {
        VmBackend vm = attach(Map.of());
        assertEquals(2000, latency.nanos(TemplateVm.PREPARE));
        vm.gmemPrepare(0x1000, 0x200, 9);
        vm.gmemPrepare(0x1400, 0x5, 0);
        vm.gmemInvalidate(0x1000, 9);
        assertEquals(List.of("firmwareCall TEMPLATE.PREPARE gfn=0x200 level=2 OK",
                "firmwareCall TEMPLATE.PREPARE gfn=0x5 level=1 OK"), calls);
        Map<String, Long> stats = vm.stats();
        assertEquals(2L, stats.get("template.hook.gmem_prepare"));
        assertEquals(1L, stats.get("template.hook.gmem_invalidate"));
        assertEquals(java.util.Set.of("TEMPLATE.PREPARE"), backend.firmwareCalls());
    }

    @Test
    void theLimitVerbCapsPrivateLeavesAndZapsOnlyWhenItLowersTheCap() {
        VmBackend vm = attach(Map.of("max_level", "2M"));
        assertEquals(2, vm.privateMaxLevel(0, 0));
        vm.invoke("limit", limit(3));
        assertEquals(List.of(), calls, "raising the cap leaves the mappings alone");
        vm.invoke("limit", limit(1));
        assertEquals(1, vm.privateMaxLevel(0, 0));
        assertEquals(List.of("zapGfnRange 0x0 +0x1000000000"), calls);
        assertEquals(1L, vm.stats().get("template.private_max_level"));
        assertEquals(2L, vm.stats().get("template.hook.private_max_level"));
    }

    @Test
    void theVerbRefusesWhatItDoesNotTake() {
        VmBackend vm = attach(Map.of());
        VerbSpec spec = backend.verbs().get(0);
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class, () -> vm.invoke("limit", VerbArgs.none("limit")))
                .errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> limit(1).withFlag("now").checkedAgainst(spec)).errno(), "the spec takes no flags");
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> VerbArgs.none("limit").with("level", 4).checkedAgainst(spec)).errno(), "levels are 1..3");
        assertEquals(Errno.ENOTSUP, assertThrows(MmuException.class, () -> vm.invoke("grow", VerbArgs.none("grow")))
                .errno());
        assertEquals(3, vm.privateMaxLevel(0, 0), "a refused verb changes nothing");
    }

    @Test
    void theVerbReturnsThePreviousLevel() {
        VmBackend vm = attach(Map.of("max_level", "2M"));
        assertEquals(2L, vm.invoke("limit", limit(1)).count().getAsLong());
        assertEquals(1L, vm.invoke("limit", limit(3)).count().getAsLong());
    }

    /** {@code template.limit VM level=…} as the language hands it over: the level already an Integer. */
    private static VerbArgs limit(int level) {
        return VerbArgs.none("limit").with("level", level);
    }

    @Test
    void aPrivateLeafAboveTheCapIsAnInvariantViolation() {
        VmBackend vm = attach(Map.of("max_level", "4K"));
        MmuView view = new MmuView() {
            @Override
            public void forEachLeaf(RootKind root, LeafVisitor visitor) {
                if (root == RootKind.DIRECT) {
                    visitor.visit(0x200, 2, SpteChange.Entry.leaf(0x1000, true, true, true)); // private 2M leaf: above the cap
                    visitor.visit(0x400, 2, SpteChange.Entry.leaf(0x2000, true, true, true)); // shared 2M leaf: no cap
                    visitor.visit(0x600, 1, SpteChange.Entry.leaf(0x3000, true, true, false)); // private 4K leaf
                }
            }

            @Override
            public void forEachTable(RootKind root, LeafVisitor visitor) {
            }

            @Override
            public boolean isPrivate(long gfn) {
                return gfn != 0x400;
            }

            @Override
            public long gmemPfnIfPresent(long gfn) {
                return -1;
            }

            @Override
            public boolean gmemLocked(long gfn) {
                return false;
            }
        };
        assertEquals(List.of("template: private leaf at gfn 0x200 has level 2, above the cap 1"), vm.check(view));
    }

    @Test
    void aSnapshotRestoresTheCapAndTheCountsInTheNextBackend() {
        VmBackend old = attach(Map.of());
        old.invoke("limit", limit(2));
        old.checkAccess(0, 1, 2, 1, true, Access.READ);
        Map<String, Object> snapshot = old.snapshot();
        assertEquals(TemplateBackend.SNAPSHOT_FORMAT, snapshot.get(Backend.SNAPSHOT_VERSION));

        VmBackend next = new TemplateBackend().restore(context(backend.capabilities(48, options(Map.of()))), options(Map.of()), snapshot);
        assertEquals(2, next.privateMaxLevel(0, 0));
        assertEquals(1L, next.stats().get("template.hook.check_access"));
        assertEquals(1L, next.stats().get("template.hook.invoke"));

        VmBackend fresh = backend.restore(context(backend.capabilities(48, options(Map.of()))), options(Map.of()),
                Map.of(Backend.SNAPSHOT_VERSION, 1));
        assertEquals(3, fresh.privateMaxLevel(0, 0));
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class, () -> backend.restore(
                context(backend.capabilities(48, options(Map.of()))), options(Map.of()), Map.of(Backend.SNAPSHOT_VERSION, 7))).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class, () -> backend.restore(
                context(backend.capabilities(48, options(Map.of()))), options(Map.of()),
                Map.of(Backend.SNAPSHOT_VERSION, 2, "max_level", 9, "hooks", Map.of()))).errno());
    }
}
