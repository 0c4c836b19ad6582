package org.tdplab.mmu.scenario.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.soak.Layout;
import org.tdplab.mmu.tdp.vm.Standalone;

/** {@code ./tdplab soak}'s arguments: a bad one is a usage error (2) naming it, and nothing runs. */
class SoakCommandTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    private final SoakCommand command = new SoakCommand();

    SoakCommandTest() {
        command.manager = Standalone.vmManager(new DefaultVmBackend());
    }

    private int soak(String... args) {
        return command.soak(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), args);
    }

    @Test
    void badArgumentsAreUsageErrorsThatNameTheValue() {
        String[][] cases = { { "--vms 0", "--vms 0 is out of range (1 or more)" },
                { "--vms -2", "--vms -2 is out of range (1 or more)" },
                { "--vms 1 --minutes 2", "--minutes and --vms both given" },
                { "--threads 0 --vms 1", "--threads 0 is out of range (1 to 64)" },
                { "--seed x --vms 1", "--seed x is not a number" },
                { "--minutes -3", "--minutes -3 is not a positive number of minutes" },
                { "--type bogus --vms 1", "--type bogus: no backend serves it; available: default" },
                { "--vms", "--vms needs a value" }, { "--what", "unknown argument '--what'" },
                { "--option ad --vms 1", "--option ad is not KEY=VALUE" },
                { "--option nope=1 --vms 1", "--option nope: not an option of default" },
                { "--option ad=maybe --vms 1", "--option: VM type default refuses {ad=maybe}: " } };
        for (String[] c : cases) {
            err.reset();
            assertEquals(Runner.UNREADABLE, soak(c[0].split(" ")), c[0]);
            assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("tdplab soak: " + c[1]), err.toString());
        }
        assertEquals("", out.toString(StandardCharsets.UTF_8), "nothing ran");
    }

    @Test
    void eachVmTakesTheOptionsGiven(@TempDir Path failures) {
        SoakCommand td = new SoakCommand();
        td.manager = Standalone.vmManager(new TdxBackend());
        assertEquals(Runner.OK, td.soak(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), "--type", "tdx", "--option", "dynamic_pamt=on",
                "--vms", "1", "--seed", "7", "--threads", "2", "--no-swap", "--out", failures.toString()),
                err.toString());
        assertTrue(td.manager.vms().isEmpty(), "the soak's VMs are gone");
        String said = out.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains("soak tdx seed=7") && said.contains("soak tdx: 1 VMs"), said);
        // what such a VM is: created with the option, as a failure's scenario would create it
        Layout layout = Layout.of("tdx", 2, java.util.Map.of("dynamic_pamt", "on"));
        assertTrue(layout.prelude("td").get(0).endsWith(" dynamic_pamt=on"), layout.prelude("td").toString());
        org.tdplab.mmu.api.Vm vm = layout.create(td.manager, "td");
        assertTrue(vm.stats().getOrDefault("TDH.PHYMEM.PAMT.ADD", 0L) > 0, vm.stats()::toString);
        vm.destroy();
    }

    @Test
    void anOptionGoesToTheTypesThatHaveIt(@TempDir Path failures) {
        SoakCommand both = new SoakCommand();
        both.manager = Standalone.vmManager(new DefaultVmBackend(), new TdxBackend());
        assertEquals(Runner.OK, both.soak(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), "--option", "dynamic_pamt=on", "--vms", "1",
                "--seed", "9", "--threads", "2", "--no-swap", "--out", failures.toString()), err.toString());
        String said = out.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains("soak default: 1 VMs") && said.contains("soak tdx: 1 VMs"), said);
    }

    @Test
    void oneVmBySeedRunsAndSaysWhatItDid(@TempDir Path failures) {
        assertEquals(Runner.OK, soak("--vms", "1", "--seed", "5", "--threads", "2", "--no-swap", "--out",
                failures.toString()), err.toString());
        String said = out.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains("soak default seed=5") && said.contains("soak default: 1 VMs"), said);
    }
}
