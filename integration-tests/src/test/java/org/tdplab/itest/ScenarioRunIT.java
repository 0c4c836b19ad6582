package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

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

/** {@code mmu:run} in the container: the command finds the core through DS and runs scenario files. */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class ScenarioRunIT {
    @Inject
    BundleContext context;

    @Inject
    CommandProcessor processor;

    @Inject
    VmManager manager;

    @Configuration
    public Option[] config() {
        return Container.without();
    }

    @Test
    public void runsScenarioFilesAndReturnsTheExitStatus() throws Exception {
        assertTrue("mmu:run registered", Container.eventually(() -> {
            try {
                return context.getServiceReferences((String) null, "(osgi.command.function=run)") != null;
            } catch (Exception e) {
                return false;
            }
        }, 10_000));
        Path dir = Files.createTempDirectory("scn");
        Path ok = Files.writeString(dir.resolve("ok.scn"), String.join("\n",
                "vm.create vm type=sw_protected",
                "slot.add vm 1 gpa=0 size=2M flags=gmem backing=2M",
                "guest vm vcpu=0 convert private gpa=0 size=2M",
                "guest vm vcpu=0 write gpa=0 size=2M value=0x5",
                "guest vm vcpu=0 read gpa=0x1000",
                "expect value 5",
                "expect spte vm gpa=0 present level=2M",
                ""));
        Path bad = Files.writeString(dir.resolve("bad.scn"), "vm.create vm type=default\nexpect vm vm bugged\n");
        StringBuilder out = new StringBuilder();
        assertEquals(0, run(out, "--checked", ok.toString()));
        assertTrue(out.toString(), out.toString().endsWith("1 passed, 0 failed\n"));
        assertEquals(1, run(out, ok.toString(), bad.toString()));
        assertTrue(out.toString(), out.toString().contains("bad.scn:2: expected vm vm bugged; found alive"));
        assertEquals(2, run(out, dir.resolve("missing.scn").toString()));
        assertEquals(2, run(out));
        assertTrue("the runs' VMs are gone", manager.vms().isEmpty());
    }

    @Test
    public void replaysATraceAgainstItsOwnTypeAndAnother() throws Exception {
        assertTrue("mmu:replay registered", Container.eventually(() -> {
            try {
                return context.getServiceReferences((String) null, "(osgi.command.function=replay)") != null;
            } catch (Exception e) {
                return false;
            }
        }, 10_000));
        Path dir = Files.createTempDirectory("replay");
        Path scn = Files.writeString(dir.resolve("sw.scn"), String.join("\n",
                "vm.create vm type=sw_protected",
                "slot.add vm 1 gpa=0 size=2M flags=gmem backing=2M",
                "guest vm vcpu=0 convert private gpa=0 size=2M",
                "guest vm vcpu=0 write gpa=0 size=64K",
                ""));
        Path trace = dir.resolve("sw.trace");
        StringBuilder out = new StringBuilder();
        assertEquals(0, command("mmu:run", out, "--trace", trace.toString(), scn.toString()));
        assertEquals(0, command("mmu:replay", out, trace.toString()));
        assertTrue(out.toString(), out.toString().endsWith("no differences\n"));
        // default has no guest_memfd: the slot is refused and the private range cannot be mapped
        assertEquals(1, command("mmu:replay", out, "--type", "default", trace.toString()));
        assertTrue(out.toString(), out.toString().contains("VM vm (sw_protected → default)"));
        assertTrue("the replays' VMs are gone", manager.vms().isEmpty());
    }

    private int run(StringBuilder output, String... args) throws Exception {
        return command("mmu:run", output, args);
    }

    private int command(String name, StringBuilder output, String... args) throws Exception {
        return Container.command(processor, name, output, args);
    }
}
