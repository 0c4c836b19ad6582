package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

/**
 * {@code mmu:soak} in the container, short (one VM of 40 rounds per type): random operations from two threads on
 * every VM type with the checker after each round, while the soak stops and starts each type's backend bundle under
 * load (the runtime's hot-swap path); nothing is found, every type was swapped, and no VM is left.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class SoakIT {
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
    public void aShortSoakOnEveryTypeWithHotSwapsFindsNothing() throws Exception {
        assertTrue("mmu:soak registered", Container.eventually(() -> {
            try {
                return context.getServiceReferences((String) null, "(osgi.command.function=soak)") != null;
            } catch (Exception e) {
                return false;
            }
        }, 10_000));
        Path dir = Files.createTempDirectory("soak");
        StringBuilder out = new StringBuilder();
        int status = command("mmu:soak", out, "--vms", "1", "--threads", "2", "--seed", "17", "--out",
                dir.resolve("failures").toString());
        assertEquals(out.toString(), 0, status);
        for (String type : new String[] { "default", "sw_protected", "tdx", "snp" }) {
            assertTrue(out.toString(), out.toString().matches("(?s).*soak " + type + " seed=(17|18|19|20)\n.*"));
            Matcher m = Pattern.compile("soak " + type + ": 1 VMs, (\\d+) operations, (\\d+) hot-swaps").matcher(out);
            assertTrue(out.toString(), m.find());
            assertTrue(out.toString(), Integer.parseInt(m.group(2)) > 0);
        }
        assertTrue(out.toString(), out.toString().contains("soak: next seed 21"));
        assertTrue("no failure written", !Files.exists(dir.resolve("failures")));
        assertTrue("the soak's VMs are gone", manager.vms().isEmpty());
        assertEquals(2, command("mmu:soak", out, "--type", "nosuch"));
        assertTrue(out.toString(), out.toString().contains("--type nosuch: no backend serves it"));
    }

    private int command(String name, StringBuilder output, String... args) throws Exception {
        return Container.command(processor, name, output, args);
    }
}
