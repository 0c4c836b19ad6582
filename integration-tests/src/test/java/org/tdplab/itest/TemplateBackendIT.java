package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

import javax.inject.Inject;

import org.apache.felix.service.command.CommandProcessor;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.BundleContext;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.BackendInfo;

/**
 * The backend template (examples/backend-template), built on its own against the reactor's mmu.api by the invoker
 * plugin, dropped into the load/ folder of a running runtime as its README tells an author: FileInstall installs it,
 * the core discovers the VM type {@code template}, and a scenario runs on a VM of that type — its verb, its hooks'
 * counters, its firmware call and latency table, its own invariant check. Deleting the jar removes the type again.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class TemplateBackendIT {
    private static final long SCAN_BOUND_MS = 15_000;

    @Inject
    BundleContext context;

    @Inject
    VmManager core;

    @Inject
    CommandProcessor processor;

    @Configuration
    public Option[] config() {
        try {
            Path load = Files.createTempDirectory("tdplab-load");
            return Container.runtime(Map.of("felix.fileinstall.dir", load.toString(), "felix.fileinstall.poll", "100"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    public void theTemplateJarDroppedIntoLoadServesItsVmType() throws Exception {
        File built = new File(System.getProperty("itest.template.jar", "target/its/backend-template/target/x.jar"));
        assertTrue("the invoker plugin built the template: " + built, built.isFile());
        assertFalse(DynamicBindingIT.types(core).contains("template"));

        Path jar = Path.of(context.getProperty("felix.fileinstall.dir")).resolve("backend-template.jar");
        Files.copy(built.toPath(), jar, StandardCopyOption.REPLACE_EXISTING);
        assertTrue("template never appeared in the backends",
                Container.eventually(() -> DynamicBindingIT.types(core).contains("template"), SCAN_BOUND_MS));
        BackendInfo info = core.backends().stream().filter(b -> b.vmType().equals("template")).findFirst().orElseThrow();
        assertEquals("com.example.tdplab.template", info.bundle());
        assertEquals("true", info.properties().get("private_mem"));
        assertTrue("mmu:run registered", Container.eventually(() -> {
            try {
                return context.getServiceReferences((String) null, "(osgi.command.function=run)") != null;
            } catch (Exception e) {
                return false;
            }
        }, 10_000));

        Path scenario = Files.writeString(Files.createTempDirectory("scn").resolve("template.scn"), String.join("\n",
                "vm.create t type=template vcpus=2",
                "slot.add t 0 gpa=0 size=4M flags=gmem backing=2M",
                "guest t vcpu=0 convert private gpa=0 size=4M",
                "guest t vcpu=0 write gpa=0 size=2M value=0x7",
                "expect spte t gpa=0 present level=2M",
                "expect stat t TEMPLATE.PREPARE >= 1",
                "expect stat t firmware_calls >= 1",
                "expect stat t template.hook.gmem_prepare >= 1",
                "expect stat t template.hook.convert_before = 1",
                "expect stat t template.hook.convert_after = 1",
                "expect stat t template.hook.private_max_level >= 1",
                "expect stat t projected_firmware_ns >= 2000",
                "expect stat t template.private_max_level = 3",
                "template.limit t level=4K",
                "expect result 3",
                "expect stat t template.private_max_level = 1",
                "expect spte t gpa=0 absent",
                "guest t vcpu=1 read gpa=0x1000",
                "expect value 7",
                "expect spte t gpa=0x1000 present level=4K",
                "expect stat t template.hook.check_access >= 1",
                "vm.destroy t",
                "expect stat t template.hook.teardown = 1",
                "expect stat t template.hook.release_key = 1",
                ""));
        StringBuilder out = new StringBuilder();
        assertEquals(out.toString(), 0, command(out, "mmu:run", "--checked", scenario.toString()));
        assertTrue(out.toString(), out.toString().endsWith("1 passed, 0 failed\n"));
        assertTrue("the run's VMs are gone", core.vms().isEmpty());

        Files.delete(jar);
        assertTrue("template never went away",
                Container.eventually(() -> !DynamicBindingIT.types(core).contains("template"), SCAN_BOUND_MS));
    }

    private int command(StringBuilder output, String name, String... args) throws Exception {
        return Container.command(processor, name, output, args);
    }
}
