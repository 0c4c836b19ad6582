package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.Version;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * Which service serves a VM type when several do (ranking, then the newer bundle version, then the older service),
 * what the core lists from the serving ones (verbs, creation options, exception names), and how a service's
 * {@code mmu.cap.*} properties are read and checked.
 */
class BackendRegistryTest {
    /** A backend of type {@code type} whose capabilities at a width are {@code caps}'s. */
    private static class Described implements Backend {
        private final String type;
        private final IntFunction<VmCapabilities> caps;

        Described(String type, IntFunction<VmCapabilities> caps) {
            this.type = type;
            this.caps = caps;
        }

        @Override
        public String vmType() {
            return type;
        }

        @Override
        public VmCapabilities capabilities(int gpaw, VerbArgs options) {
            return caps.apply(gpaw);
        }

        @Override
        public VmBackend attach(VmContext vm, VerbArgs options) {
            return new VmBackend() {
            };
        }
    }

    /** An ordinary backend of type {@code type} whose verb, option and exception carry {@code tag}. */
    private static Backend backend(String type, String tag) {
        return new Described(type, gpaw -> VmCapabilities.ordinary(type, gpaw)) {
            @Override
            public List<VerbSpec> verbs() {
                return List.of(new VerbSpec(type + ".v" + tag, List.of(), List.of(), "verb " + tag));
            }

            @Override
            public List<VmOption> options() {
                return List.of(VmOption.of("o" + tag, VerbOption.Type.NUMBER, "option " + tag));
            }

            @Override
            public Map<Integer, String> exceptions() {
                return Map.of(200, "EXC_" + tag);
            }
        };
    }

    private static BackendInfo info(String type, String version, long id) {
        return new BackendInfo(type, Map.of(), "b." + type, version, id);
    }

    @Test
    void theServingBackendIsChosenByRankingThenVersionThenAge() {
        BackendRegistry r = new BackendRegistry();
        Backend older = backend("t", "1"), newer = backend("t", "2"), ranked = backend("t", "3");
        r.add(older, info("t", "1.0.0", 10), 0);
        r.add(newer, info("t", "1.1.0", 11), 0);
        assertSame(newer, r.forType("t").orElseThrow(), "the newer bundle version");
        assertEquals(List.of("t.v2"), r.verbs().stream().map(VerbSpec::name).toList());
        assertEquals(List.of("o2"), r.options().get("t").stream().map(VmOption::key).toList());
        assertEquals(Set.of("EXC_2"), r.exceptionNames());
        r.add(ranked, info("t", "not a version", 12), 5);
        assertSame(ranked, r.forType("t").orElseThrow(), "the higher ranking wins over any version");
        assertEquals(List.of(ranked, newer, older), r.ranked("t").stream().map(BackendRegistry.Bound::backend)
                .toList());
        r.remove(ranked);
        r.remove(newer);
        Backend twin = backend("t", "4");
        r.add(twin, info("t", "1.0.0", 13), 0);
        assertSame(older, r.forType("t").orElseThrow(), "same ranking and version: the older service");
        assertEquals(List.of(10L, 13L), r.all().stream().map(BackendInfo::serviceId).toList());
        assertEquals(Version.emptyVersion, BackendRegistry.version("x.y"));
        r.remove(older);
        r.remove(twin);
        assertEquals(List.of(), r.types(), "a type with no service left is gone");
        assertEquals(Optional.empty(), r.forType("t"));
        assertEquals(List.of(), r.ranked("t"));
    }

    /** A service reference with these properties, from a bundle {@code b} 2.1.0. */
    @SuppressWarnings("unchecked")
    private static ServiceReference<Backend> ref(Map<String, Object> props) {
        Bundle bundle = (Bundle) Proxy.newProxyInstance(Bundle.class.getClassLoader(), new Class<?>[] { Bundle.class },
                (p, m, a) -> switch (m.getName()) {
                case "getSymbolicName" -> "b";
                case "getVersion" -> new Version(2, 1, 0);
                default -> throw new UnsupportedOperationException(m.getName());
                });
        Dictionary<String, Object> d = new Hashtable<>(props);
        return (ServiceReference<Backend>) Proxy.newProxyInstance(ServiceReference.class.getClassLoader(),
                new Class<?>[] { ServiceReference.class }, (p, m, a) -> switch (m.getName()) {
                case "getProperty" -> d.get((String) a[0]);
                case "getPropertyKeys" -> props.keySet().toArray(new String[0]);
                case "getBundle" -> bundle;
                default -> throw new UnsupportedOperationException(m.getName());
                });
    }

    @Test
    void aServiceWhoseTypeOrCapabilitiesAreBrokenIsRefused() {
        BackendRegistry r = new BackendRegistry();
        Optional<String> refused = r.add(backend("nameb", "1"), info("namea", "1.0.0", 30), 0);
        assertTrue(refused.orElseThrow().endsWith("refused: mmu.vm.type=namea but vmType() says 'nameb'"),
                refused.toString());
        Backend crashesAt52 = new Described("c", gpaw -> {
            if (gpaw == 52)
                throw new IllegalStateException("52");
            return VmCapabilities.ordinary("c", gpaw);
        });
        refused = r.add(crashesAt52, info("c", "1.0.0", 31), 0);
        assertTrue(refused.orElseThrow().contains("refused: capabilities(gpaw=52) failed: an internal error of the "
                + "backend (at "), refused.toString());
        Backend mirrorsNothing = new Described("m", gpaw -> VmCapabilities.ordinary("m", gpaw).withMirroredPt());
        refused = r.add(mirrorsNothing, info("m", "1.0.0", 32), 0);
        assertTrue(refused.orElseThrow().endsWith("refused: capabilities() have mirrored page tables without private "
                + "memory (they map private memory only)"), refused.toString());
        assertTrue(r.all().isEmpty(), "none was bound");
    }

    @Test
    void aServicesPropertiesAreReadAndCheckedAgainstItsCapabilities() {
        BackendRegistry r = new BackendRegistry();
        Backend b = backend("u", "1");
        assertEquals(Optional.empty(), r.add(ref(Map.of(Constants.SERVICE_ID, 21L, Constants.SERVICE_RANKING, 3,
                Backend.VM_TYPE, "u", "mmu.cap.private_mem", "false", "mmu.cap.tags", new String[] { "a", "b" },
                "other", "x")), b));
        BackendInfo info = r.all().get(0);
        assertEquals("u", info.vmType());
        assertEquals("b", info.bundle());
        assertEquals("2.1.0", info.version());
        assertEquals(21L, info.serviceId());
        assertEquals("a,b", info.properties().get("tags"), "an array property is rendered as a list");
        assertEquals("false", info.properties().get("mirrored_pt"), "a capability left out is derived");
        assertEquals(3, r.ranked("u").get(0).ranking());

        Optional<String> refused = r.add(ref(Map.of(Constants.SERVICE_ID, 22L, "mmu.cap.mirrored_pt", "true")),
                backend("w", "2"));
        assertTrue(refused.isPresent());
        assertTrue(refused.get().startsWith("backend service 22 of VM type 'w' (b 2.1.0) refused: mmu.cap.mirrored_pt="
                + "true but capabilities() say false"), refused.get());
        assertEquals(List.of("u"), r.types(), "a refused service is not bound");
        r.remove(ref(Map.of(Constants.SERVICE_ID, 21L)));
        assertEquals(List.of(), r.types());
    }
}
