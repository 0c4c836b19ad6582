package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Map;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.BackendInfo;

/**
 * Backends come and go under a running core: the core's reference is dynamic, so it rebinds without being
 * re-activated (its service id stays the same), and VMs of other types are undisturbed.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class DynamicBindingIT {
    @Inject
    BundleContext context;

    @Configuration
    public Option[] config() {
        return Container.without();
    }

    @Test
    public void stoppingTheTdxBackendRemovesTdxWithoutReactivatingTheCore() throws Exception {
        ServiceReference<VmManager> before = context.getServiceReference(VmManager.class);
        long coreId = serviceId(before);
        VmManager core = context.getService(before);
        Vm plain = core.create("plain", "default", 1, 48, Map.of());

        Bundle tdx = Container.bundle(context, "backend.tdx");
        tdx.stop();
        assertEquals(List.of("default", "snp", "sw_protected"), types(core));
        assertRefused(core, "tdx");
        assertEquals(coreId, serviceId(context.getServiceReference(VmManager.class)));
        assertSame("VMs of other types survive", plain, core.find("plain").orElseThrow());

        tdx.start();
        assertEquals(List.of("default", "snp", "sw_protected", "tdx"), types(core));
        assertEquals(coreId, serviceId(context.getServiceReference(VmManager.class)));
        assertServed(core, "tdx");
    }

    @Test
    public void uninstallingAndReinstallingABackendBundleRebindsIt() throws Exception {
        ServiceReference<VmManager> ref = context.getServiceReference(VmManager.class);
        long coreId = serviceId(ref);
        VmManager core = context.getService(ref);

        Bundle snp = Container.bundle(context, "backend.snp");
        String location = snp.getLocation();
        snp.uninstall();
        assertFalse(types(core).contains("snp"));
        assertRefused(core, "snp");

        Bundle again = context.installBundle(location);
        again.start();
        assertTrue(types(core).contains("snp"));
        BackendInfo info = core.backends().stream().filter(b -> b.vmType().equals("snp")).findFirst().orElseThrow();
        assertEquals("backend.snp", info.bundle());
        assertEquals(coreId, serviceId(context.getServiceReference(VmManager.class)));
        assertServed(core, "snp");
    }

    @Test
    public void stoppingTheLegacyBundleRemovesBothOfItsTypes() throws Exception {
        VmManager core = context.getService(context.getServiceReference(VmManager.class));
        Container.bundle(context, "backend.legacy").stop();
        assertEquals(List.of("snp", "tdx"), types(core));
        Container.bundle(context, "backend.legacy").start();
        assertEquals(List.of("default", "snp", "sw_protected", "tdx"), types(core));
    }

    /** A bound backend answers creation itself: a VM, or its own refusal — never ENODEV. */
    static void assertServed(VmManager core, String type) {
        try {
            core.create("served-" + type, type, 1, 48, Map.of()).destroy();
        } catch (MmuException e) {
            assertNotEquals("no backend for " + type, Errno.ENODEV, e.errno());
        }
    }

    private static void assertRefused(VmManager core, String type) {
        try {
            core.create("refused-" + type, type, 1, 48, Map.of());
            throw new AssertionError("created a VM of type " + type + " with no backend");
        } catch (MmuException e) {
            assertEquals(Errno.ENODEV, e.errno());
        }
    }

    static List<String> types(VmManager core) {
        return core.backends().stream().map(BackendInfo::vmType).distinct().toList();
    }

    private static long serviceId(ServiceReference<?> ref) {
        return (Long) ref.getProperty(Constants.SERVICE_ID);
    }
}
