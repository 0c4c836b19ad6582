package org.tdplab.itest;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Map;
import java.util.TreeMap;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmCapabilities;

/** The core discovers every backend with the capabilities it advertises. */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class DiscoveryIT {
    @Inject
    BundleContext context;

    @Inject
    VmManager manager;

    @Configuration
    public Option[] config() {
        return Container.without();
    }

    @Test
    public void allFourVmTypesAreDiscoveredWithTheirCapabilityProperties() throws Exception {
        Map<String, ServiceReference<Backend>> byType = new TreeMap<>();
        for (ServiceReference<Backend> ref : context.getServiceReferences(Backend.class, null))
            byType.put((String) ref.getProperty(Backend.VM_TYPE), ref);
        assertEquals("[default, snp, sw_protected, tdx]", byType.keySet().toString());

        assertCaps(byType.get("default"), false, false, false);
        assertCaps(byType.get("sw_protected"), false, true, false);
        assertCaps(byType.get("snp"), false, true, true);
        assertCaps(byType.get("tdx"), true, true, true);
        assertArrayEquals(new String[] { "48=47", "52=51" },
                (String[]) byType.get("tdx").getProperty("mmu.cap.shared_bit"));
        assertEquals("backend.legacy", byType.get("sw_protected").getBundle().getSymbolicName());

        assertEquals(4, manager.backends().size());
    }

    private static void assertCaps(ServiceReference<Backend> ref, boolean mirrored, boolean privateMem,
            boolean protectedState) {
        assertEquals(mirrored, ref.getProperty("mmu.cap.mirrored_pt"));
        assertEquals(privateMem, ref.getProperty("mmu.cap.private_mem"));
        assertEquals(protectedState, ref.getProperty("mmu.cap.protected_state"));
    }

    @Test
    public void capabilitiesObjectAgreesWithTheServiceProperties() throws Exception {
        for (ServiceReference<Backend> ref : context.getServiceReferences(Backend.class, null)) {
            Backend backend = context.getService(ref);
            VmCapabilities caps = backend.capabilities(48, org.tdplab.mmu.api.backend.VerbArgs.noOptions(backend.vmType()));
            assertEquals(ref.getProperty(Backend.VM_TYPE), caps.vmType());
            assertEquals(ref.getProperty("mmu.cap.mirrored_pt"), caps.mirroredPt());
            assertEquals(ref.getProperty("mmu.cap.private_mem"), caps.privateMem());
            assertEquals(ref.getProperty("mmu.cap.protected_state"), caps.protectedState());
            context.ungetService(ref);
        }
    }

    @Test
    public void theSharedBitFollowsTheGuestPhysicalAddressWidth() throws Exception {
        Backend tdx = context.getService(context.getServiceReferences(Backend.class, "(mmu.vm.type=tdx)").iterator().next());
        VmCapabilities td48 = tdx.capabilities(48, org.tdplab.mmu.api.backend.VerbArgs.noOptions("tdx"));
        VmCapabilities td52 = tdx.capabilities(52, org.tdplab.mmu.api.backend.VerbArgs.noOptions("tdx"));
        assertEquals(47, td48.sharedBit());
        assertEquals(4, td48.rootLevel());
        assertEquals(1L << 35, td48.gfnDirectBits());
        assertEquals(51, td52.sharedBit());
        assertEquals(5, td52.rootLevel());
        Vm plain = manager.create("plain", "default", 2, 48, Map.of());
        assertEquals(-1, plain.capabilities().sharedBit());
        assertEquals(0, plain.capabilities().gfnDirectBits());
    }

    @Test
    public void anUnknownVmTypeIsRefusedWithEnodevNamingTheTypesAvailable() {
        try {
            manager.create("x", "pkvm", 1, 48, Map.of());
            fail("created a VM of an unknown type");
        } catch (MmuException e) {
            assertEquals(Errno.ENODEV, e.errno());
            assertTrue(e.getMessage(), e.getMessage().contains("pkvm"));
            assertTrue(e.getMessage(), e.getMessage().contains("default, snp, sw_protected, tdx"));
        }
        assertFalse(manager.find("x").isPresent());
    }

    /** A type whose capabilities say private memory, and no mirror. */
    static final class Liar implements Backend {
        @Override
        public String vmType() {
            return "liar";
        }

        @Override
        public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
            return VmCapabilities.ordinary("liar", gpaw).withPrivateMemory(
                    org.tdplab.mmu.api.backend.PrivateSource.ATTRIBUTES, 1);
        }

        @Override
        public org.tdplab.mmu.api.backend.VmBackend attach(org.tdplab.mmu.api.backend.VmContext vm,
                org.tdplab.mmu.api.backend.VerbArgs options) {
            return new org.tdplab.mmu.api.backend.VmBackend() {
            };
        }
    }

    @Test
    public void aServiceWhoseCapabilityPropertiesContradictItsCapabilitiesIsRefused() {
        java.util.Hashtable<String, Object> lying = new java.util.Hashtable<>();
        lying.put(Backend.VM_TYPE, "liar");
        lying.put("mmu.cap.private_mem", false);
        org.osgi.framework.ServiceRegistration<Backend> r = context.registerService(Backend.class, new Liar(), lying);
        try {
            assertFalse(manager.backends().stream().anyMatch(b -> b.vmType().equals("liar")));
            try {
                manager.create("l", "liar", 1, 48, Map.of());
                fail("a refused backend served a VM");
            } catch (MmuException e) {
                assertEquals(Errno.ENODEV, e.errno());
            }
        } finally {
            r.unregister();
        }
        java.util.Hashtable<String, Object> honest = new java.util.Hashtable<>();
        honest.put(Backend.VM_TYPE, "liar");
        honest.put("mmu.cap.private_mem", true);
        r = context.registerService(Backend.class, new Liar(), honest);
        try {
            Map<String, String> caps = manager.backends().stream().filter(b -> b.vmType().equals("liar")).findFirst()
                    .orElseThrow().properties();
            assertEquals("true", caps.get("private_mem"));
            assertEquals("the properties left out are derived", "false", caps.get("mirrored_pt"));
            manager.create("l", "liar", 1, 48, Map.of()).destroy();
        } finally {
            r.unregister();
        }
    }
}
