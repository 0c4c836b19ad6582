package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.Version;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * The core as Declarative Services drives it: backends bound and unbound through their service references (ranking,
 * advertised {@code mmu.cap.*} properties, bundle and version), the configuration of the suspend timeout, and what
 * the manager and its sessions list of the bound services.
 */
class ServiceBindingTest {
    /** One host-wide object per service, as a backend keeps a key pool in {@code VmContext.hostState}. */
    static final class Pool {
    }

    /** A backend that describes itself fully and remembers the host state each VM it attached was given. */
    static final class Described implements Backend {
        final List<Pool> pools = new ArrayList<>();

        @Override
        public String vmType() {
            return "d";
        }

        @Override
        public VmCapabilities capabilities(int gpaw, VerbArgs options) {
            return VmCapabilities.ordinary("d", gpaw);
        }

        @Override
        public synchronized VmBackend attach(VmContext vm, VerbArgs options) {
            pools.add(vm.hostState(Pool.class, Pool::new));
            return new VmBackend() {
            };
        }

        @Override
        public List<VerbSpec> verbs() {
            return List.of(new VerbSpec("d.poke", List.of(VerbOption.required("gpa", VerbOption.Type.SIZE)), List.of(),
                    "pokes"));
        }

        @Override
        public List<VmOption> options() {
            return List.of(new VmOption("d.mode", VerbOption.Type.CHOICE, List.of("a", "b"), "a mode"));
        }

        @Override
        public Map<Integer, String> exceptions() {
            return Map.of(99, "#DX");
        }
    }

    private static long nextId = 100;

    @SuppressWarnings("unchecked")
    static ServiceReference<Backend> reference(String bundle, String version, int ranking, Map<String, Object> props) {
        Map<String, Object> all = new HashMap<>(props);
        all.put(Constants.SERVICE_ID, nextId++);
        all.put(Constants.SERVICE_RANKING, ranking);
        Bundle b = (Bundle) Proxy.newProxyInstance(Bundle.class.getClassLoader(), new Class<?>[] { Bundle.class },
                (p, m, a) -> switch (m.getName()) {
                case "getSymbolicName" -> bundle;
                case "getVersion" -> Version.parseVersion(version);
                default -> throw new UnsupportedOperationException(m.getName());
                });
        return (ServiceReference<Backend>) Proxy.newProxyInstance(ServiceReference.class.getClassLoader(),
                new Class<?>[] { ServiceReference.class }, (p, m, a) -> switch (m.getName()) {
                case "getProperty" -> all.get(a[0]);
                case "getPropertyKeys" -> all.keySet().toArray(String[]::new);
                case "getBundle" -> b;
                case "hashCode" -> System.identityHashCode(p);
                case "equals" -> p == a[0];
                default -> throw new UnsupportedOperationException(m.getName());
                });
    }

    private static VmManagerComponent core(List<String> log) {
        VmManagerComponent core = new VmManagerComponent();
        core.log = log::add;
        core.configure(null, Map.of());
        return core;
    }

    @Test
    void aServiceWhoseAdvertisedCapabilitiesContradictItsOwnIsRefusedAndLogged() {
        List<String> log = new ArrayList<>();
        VmManagerComponent core = core(log);
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of("mmu.cap.private_mem", "true")),
                new Described());
        assertTrue(core.backends().isEmpty(), core.backends().toString());
        assertEquals(1, log.size());
        assertTrue(log.get(0).contains("private_mem"), log.get(0));
    }

    @Test
    void aBoundServiceListsItsVerbsOptionsAndExceptionsThroughTheManagerAndItsSessions() {
        VmManagerComponent core = core(new ArrayList<>());
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of()), new Described());
        VmManager session = core.session();
        for (VmManager m : List.of(core, session)) {
            assertEquals(List.of("d.poke"), m.verbs().stream().map(VerbSpec::name).toList());
            assertEquals(Set.of("d"), m.options().keySet());
            assertEquals("d.mode", m.options().get("d").get(0).key());
            assertEquals(Set.of("#DX"), m.exceptionNames());
            assertEquals("org.tdplab.backend.d", m.backends().get(0).bundle());
        }
        assertTrue(session.session() != null, "a session opens sessions of the same core");
    }

    @Test
    void aSessionListsOnlyItsOwnVms() {
        VmManagerComponent core = core(new ArrayList<>());
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of()), new Described());
        VmManager a = core.session(), b = core.session();
        a.create("in-a", "d", 1, 48, Map.of());
        b.create("in-b", "d", 1, 48, Map.of());
        assertEquals(List.of("in-a"), a.vms().stream().map(Vm::name).toList());
        assertEquals(List.of("in-b"), b.vms().stream().map(Vm::name).toList());
        assertEquals(2, core.vms().size(), "the manager itself sees every host's VMs");
    }

    @Test
    void unbindingTheServingServiceMovesItsVmsToTheNextOfTheirTypeAndDropsItsHostState() {
        VmManagerComponent core = core(new ArrayList<>());
        Described first = new Described(), second = new Described();
        ServiceReference<Backend> ref1 = reference("org.tdplab.backend.d", "1.0.0", 10, Map.of());
        core.bindBackend(ref1, first);
        core.bindBackend(reference("org.tdplab.backend.d2", "1.0.0", 0, Map.of()), second);
        VmManager session = core.session();
        CoreVm vm = (CoreVm) core.create("v", "d", 1, 48, Map.of());
        CoreVm inSession = (CoreVm) session.create("s", "d", 1, 48, Map.of());
        assertSame(first, vm.gate().serving(), "the higher ranking serves new VMs");
        core.unbindBackend(ref1, first);
        assertSame(second, vm.gate().serving(), "resumed on the other service of its type");
        assertSame(second, inSession.gate().serving());
        assertEquals(List.of("org.tdplab.backend.d2"), core.backends().stream().map(i -> i.bundle()).toList());
        // the same service object bound again starts with a fresh host state, in every host
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.1", 10, Map.of()), first);
        core.create("w", "d", 1, 48, Map.of());
        session.create("t", "d", 1, 48, Map.of());
        assertEquals(4, first.pools.size());
        assertNotSame(first.pools.get(0), first.pools.get(2), "the host's state went with the service");
        assertNotSame(first.pools.get(1), first.pools.get(3), "the session's host state went with the service");
    }

    @Test
    void aVmWhoseLastServiceWentIsResumedWhenOneOfItsTypeIsBound() {
        VmManagerComponent core = core(new ArrayList<>());
        Described d = new Described();
        ServiceReference<Backend> ref = reference("org.tdplab.backend.d", "1.0.0", 0, Map.of());
        core.bindBackend(ref, d);
        CoreVm vm = (CoreVm) core.create("v", "d", 1, 48, Map.of());
        core.unbindBackend(ref, d);
        assertNull(vm.gate().serving(), "suspended: no service of its type");
        Described next = new Described();
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of()), next);
        assertSame(next, vm.gate().serving());
        assertTrue(vm.check().ok());
    }

    @Test
    void aNewerVersionOfTheServingBundleBoundAsAServiceTakesTheVmOver() {
        VmManagerComponent core = core(new ArrayList<>());
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of()), new Described());
        Vm vm = core.create("v", "d", 1, 48, Map.of());
        core.bindBackend(reference("org.tdplab.backend.d", "1.2.0", 0, Map.of()), new Described());
        assertEquals("org.tdplab.backend.d 1.2.0", vm.backendVersion());
    }

    @Test
    void theSuspendTimeoutComesFromTheComponentThenTheFrameworkAndReachesLiveVms() {
        VmManagerComponent core = core(new ArrayList<>());
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of()), new Described());
        CoreVm vm = (CoreVm) core.create("v", "d", 1, 48, Map.of());
        assertEquals(TimeUnit.MILLISECONDS.toNanos(BackendSlot.DEFAULT_TIMEOUT_MS), vm.gate().timeoutNanos);
        BundleContext framework = (BundleContext) Proxy.newProxyInstance(BundleContext.class.getClassLoader(),
                new Class<?>[] { BundleContext.class }, (p, m, a) -> "getProperty".equals(m.getName())
                        && "tdplab.suspend.timeout.ms".equals(a[0]) ? " 250 " : null);
        core.configure(framework, Map.of());
        assertEquals(TimeUnit.MILLISECONDS.toNanos(250), vm.gate().timeoutNanos, "the framework property");
        core.configure(framework, Map.of("suspend.timeout.ms", "40"));
        assertEquals(TimeUnit.MILLISECONDS.toNanos(40), vm.gate().timeoutNanos, "the component property wins");
        core.setSuspendTimeoutMillis(70);
        assertEquals(TimeUnit.MILLISECONDS.toNanos(70), vm.gate().timeoutNanos);
        assertEquals(TimeUnit.MILLISECONDS.toNanos(70), ((CoreVm) core.create("w", "d", 1, 48, Map.of())).gate()
                .timeoutNanos, "and new VMs");
    }

    @Test
    void aVmMayHaveAsManyAs1024Vcpus() {
        VmManagerComponent core = core(new ArrayList<>());
        core.bindBackend(reference("org.tdplab.backend.d", "1.0.0", 0, Map.of()), new Described());
        assertEquals(1024, core.create("big", "d", 1024, 48, Map.of()).vcpus());
    }

    @Test
    void aHostMemoryLimitOfOneGigabyteIsTaken() {
        String old = System.getProperty(org.tdplab.mmu.tdp.mem.HostMemory.LIMIT_PROPERTY);
        try {
            System.setProperty(org.tdplab.mmu.tdp.mem.HostMemory.LIMIT_PROPERTY, "1g");
            assertEquals(1L << 30, VmManagerComponent.hostMemoryLimit());
        } finally {
            if (old == null)
                System.clearProperty(org.tdplab.mmu.tdp.mem.HostMemory.LIMIT_PROPERTY);
            else
                System.setProperty(org.tdplab.mmu.tdp.mem.HostMemory.LIMIT_PROPERTY, old);
        }
    }

    @Test
    void outsideAContainerUnbindingMovesVmsOnAndDropsTheServicesHostState() {
        VmManagerComponent core = core(new ArrayList<>());
        Described first = new Described(), second = new Described();
        core.bindStandalone(first, 1);
        core.bindStandalone(second, 2);
        CoreVm vm = (CoreVm) core.create("v", "d", 1, 48, Map.of());
        assertSame(first, vm.gate().serving(), "the older service serves first");
        core.unbindStandalone(first);
        assertSame(second, vm.gate().serving(), "resumed on the other service of its type");
        core.bindStandalone(first, 3);
        core.unbindStandalone(second);
        core.create("w", "d", 1, 48, Map.of());
        assertEquals(3, first.pools.size(), "v attached, v restored after the second went, w attached");
        assertNotSame(first.pools.get(0), first.pools.get(1), "the host state went with the service");
        assertSame(first.pools.get(1), first.pools.get(2));
    }

    @Test
    void theSameVersionOfTheServingBundleBoundAgainTakesNothingOver() {
        VmManagerComponent core = core(new ArrayList<>());
        Described serving = new Described();
        core.bindBackend(reference("org.tdplab.backend.d", "1.2.0", 0, Map.of()), serving);
        CoreVm vm = (CoreVm) core.create("v", "d", 1, 48, Map.of());
        core.bindBackend(reference("org.tdplab.backend.d", "1.2.0", 0, Map.of()), new Described());
        assertSame(serving, vm.gate().serving());
        assertEquals(0L, vm.gate().suspensions.sum(), "not drained");
    }
}
