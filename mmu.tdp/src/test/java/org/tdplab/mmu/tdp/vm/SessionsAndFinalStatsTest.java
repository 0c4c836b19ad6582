package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.DestroyedVm;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * The seam's bookkeeping: firmware calls declared in any spelling, the final counters of destroyed VMs, host state
 * fresh per session, and {@code mmu.cap.*} properties held to the capabilities.
 */
class SessionsAndFinalStatsTest {
    /** What VMs of one host share: a key pool whose next key is a count of the VMs made on the host. */
    static final class Keys {
        final AtomicInteger next = new AtomicInteger();
    }

    /**
     * A backend with lower-case firmware call names, as a hypervisor-call interface names them: {@code hyp_init} at
     * attach (recorded), {@code hyp_reclaim} at teardown (recorded), and {@code hyp_share}, which it only counts in
     * its own stats and declares; {@code busy_seen} is a counter that is not a call.
     */
    static final class Hyp implements Backend {
        final List<Keys> hosts = new ArrayList<>();

        @Override
        public String vmType() {
            return "hyp";
        }

        @Override
        public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
            return VmCapabilities.ordinary("hyp", gpaw).withPrivateMemory(
                    org.tdplab.mmu.api.backend.PrivateSource.ATTRIBUTES, 1);
        }

        @Override
        public Set<String> firmwareCalls() {
            return Set.of("hyp_init", "hyp_reclaim", "hyp_share");
        }

        @Override
        public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
            Keys keys = vm.hostState(Keys.class, () -> {
                Keys k = new Keys();
                synchronized (hosts) {
                    hosts.add(k);
                }
                return k;
            });
            long key = keys.next.incrementAndGet();
            vm.firmwareCall("hyp_init", -1, 0, "ok");
            return new VmBackend() {
                @Override
                public void teardown() {
                    vm.firmwareCall("hyp_reclaim", -1, 0, "ok");
                }

                @Override
                public Map<String, Long> stats() {
                    return Map.of("hyp_key", key, "busy_seen", 2L);
                }
            };
        }
    }

    @Test
    void lowerCaseFirmwareCallsAreTheDeclaredAndRecordedOnes() {
        VmManager m = Standalone.vmManager(new Hyp());
        Vm vm = m.create("a", "hyp", 1, 48, Map.of());
        assertEquals(Set.of("hyp_init", "hyp_reclaim", "hyp_share"), vm.firmwareCalls());
        Map<String, Long> s = vm.stats();
        assertEquals(1L, s.get("hyp_init"));
        assertEquals(0L, s.get("hyp_share"), "a declared call not made yet reads 0");
        assertEquals(0L, s.get("hyp_reclaim"));
        assertFalse(vm.firmwareCalls().contains("busy_seen"));
        vm.destroy();
    }

    @Test
    void aDestroyedVmKeepsItsFinalCountersTeardownIncluded() {
        VmManager m = Standalone.vmManager(new Hyp());
        VmManager run = m.session();
        Vm vm = run.create("a", "hyp", 1, 48, Map.of());
        vm.addMemslot(0, 0, 2L << 20, Set.of(), PageSize.SIZE_4K);
        vm.prefault(0, 0, 16 << 12);
        assertEquals(16L, vm.stats().get("pages_4k"));
        vm.destroy();
        assertEquals(1L, vm.stats().get("hyp_reclaim"), "the teardown's own firmware call counts");
        assertEquals(0L, vm.stats().get("pages_4k"), "as the teardown left it");
        assertEquals(List.of(), List.copyOf(run.vms()));
        List<DestroyedVm> gone = run.destroyed();
        assertEquals(1, gone.size());
        DestroyedVm d = gone.get(0);
        assertEquals("a", d.name());
        assertEquals("hyp", d.type());
        assertEquals(vm.stats(), d.stats());
        assertEquals(vm.firmwareCalls(), d.firmwareCalls());
        assertFalse(d.bugged());
        assertEquals("", d.deadReason());
        assertEquals(List.of(d), m.destroyed(), "the manager itself sees every session's");
        assertEquals(List.of(), m.session().destroyed(), "another session sees none of them");
    }

    @Test
    void eachSessionIsAFreshHostAndVmsOfOneShareIt() {
        Hyp hyp = new Hyp();
        VmManager m = Standalone.vmManager(hyp);
        for (int run = 0; run < 2; run++) { // the same "file" twice: the same counters
            VmManager s = m.session();
            Vm a = s.create("a" + run, "hyp", 1, 48, Map.of());
            Vm b = s.create("b" + run, "hyp", 1, 48, Map.of());
            assertEquals(1L, a.stats().get("hyp_key"));
            assertEquals(2L, b.stats().get("hyp_key"), "VMs of one session share the host's state");
            assertEquals(Set.of(a, b), Set.copyOf(s.vms()));
            assertTrue(s.find("a" + run).isPresent());
            a.destroy();
            b.destroy();
        }
        assertEquals(2, hyp.hosts.size());
        assertNotSame(hyp.hosts.get(0), hyp.hosts.get(1));
        VmManager other = m.session();
        Vm x = other.create("x", "hyp", 1, 48, Map.of());
        assertTrue(m.session().find("x").isEmpty(), "a session finds only its own VMs");
        assertSame(x, m.find("x").orElseThrow(), "the manager itself finds every VM");
        x.destroy();
    }

    /** A session lists what its manager lists (backends, verbs, options, exceptions) and shares its observers. */
    @Test
    void aSessionSeesTheManagersBackendsAndObservers() {
        VmManager m = Standalone.vmManager(new Hyp());
        VmManager s = m.session();
        assertEquals(m.backends(), s.backends());
        assertEquals(m.verbs(), s.verbs());
        assertEquals(m.options(), s.options());
        assertEquals(m.exceptionNames(), s.exceptionNames());
        assertEquals(List.of("hyp"), s.backends().stream().map(b -> b.vmType()).toList());
        assertNotSame(s, s.session(), "a session of a session is a fresh one");
        List<String> ops = new java.util.concurrent.CopyOnWriteArrayList<>();
        org.tdplab.mmu.api.MmuObserver o = new org.tdplab.mmu.api.MmuObserver() {
            @Override
            public void vmOperation(String vm, String operation) {
                ops.add(vm + ": " + operation.split(" ")[0]);
            }
        };
        s.addObserver(o);
        Vm vm = m.create("seen", "hyp", 1, 48, Map.of());
        vm.addMemslot(0, 0, 2L << 20, Set.of(), PageSize.SIZE_4K);
        s.removeObserver(o);
        vm.prefault(0, 0, 1 << 12);
        vm.destroy();
        assertEquals(List.of("seen: KVM_CREATE_VM", "seen: KVM_SET_USER_MEMORY_REGION2"), ops,
                "observed through the session from its addition to its removal");
    }

    @Test
    void hostStateGoesWithTheServiceThatMadeIt() {
        Hyp first = new Hyp(), second = new Hyp();
        VmManager m = Standalone.vmManager(first);
        VmManager s = m.session();
        s.create("a", "hyp", 1, 48, Map.of()).destroy();
        Standalone.unbind(m, first);
        Standalone.bind(m, second, 2, "1");
        assertEquals(1L, s.create("b", "hyp", 1, 48, Map.of()).stats().get("hyp_key"),
                "a new service starts from a fresh host state");
        assertEquals(1, second.hosts.size());
    }

    @Test
    void capabilityPropertiesThatContradictTheCapabilitiesAreRefused() {
        VmManagerComponent core = new VmManagerComponent();
        List<String> log = new ArrayList<>();
        core.log = log::add;
        assertFalse(core.bindStandalone(new Hyp(), 1, "1", Map.of("private_mem", "false", "mirrored_pt", "false")));
        assertEquals(List.of("tdplab: backend service 1 of VM type 'hyp' (standalone 1) refused: "
                + "mmu.cap.private_mem=false but capabilities() say true"), log);
        assertEquals(List.of(), core.backends(), "not bound");
        assertEquals("ENODEV", assertThrowsMmu(() -> core.create("a", "hyp", 1, 48, Map.of())));

        assertTrue(core.bindStandalone(new Hyp(), 2, "1", Map.of("private_mem", "true")));
        assertEquals(Map.of("mirrored_pt", "false", "private_mem", "true", "protected_state", "false",
                "shared_bit", ""), core.backends().get(0).properties(), "the properties left out are derived");
        assertEquals(1, log.size());
    }

    @Test
    void aSharedBitListIsComparedAsASet() {
        Map<String, String> derived = Map.of("shared_bit", "48=47,52=51", "mirrored_pt", "true");
        assertEquals(List.of(), AdvertisedCaps.mismatches(Map.of("shared_bit", "52=51,48=47", "mirrored_pt", "TRUE"),
                derived));
        assertEquals(List.of("mmu.cap.shared_bit=48=47 but capabilities() say 48=47,52=51"),
                AdvertisedCaps.mismatches(Map.of("shared_bit", "48=47"), derived));
        assertEquals(List.of("mmu.cap.shared_bit=(none) but capabilities() say 48=47,52=51"),
                AdvertisedCaps.mismatches(Map.of("shared_bit", ""), derived));
    }

    private static String assertThrowsMmu(Runnable r) {
        return org.junit.jupiter.api.Assertions.assertThrows(org.tdplab.mmu.api.MmuException.class, r::run).errno()
                .name();
    }
}
