package org.tdplab.mmu.scenario.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.mmu.tdp.vm.Standalone;

/** {@code ./tdplab run}'s arguments and exit status. */
class RunCommandTest {
    @TempDir
    Path dir;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    private PrintStream savedOut, savedErr;
    private RunCommand command;

    @BeforeEach
    void setUp() {
        savedOut = System.out;
        savedErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        command = new RunCommand();
        command.manager = Standalone.vmManager(new DefaultVmBackend());
    }

    @AfterEach
    void tearDown() {
        System.setOut(savedOut);
        System.setErr(savedErr);
    }

    @Test
    void usageErrors() {
        assertEquals(2, command.run());
        assertEquals("tdplab run: no scenario files given; usage: ./tdplab run [--checked] [--trace FILE] FILE…\n", text(err));
        err.reset();
        assertEquals(2, command.run("--fast", "x.scn"));
        assertEquals("tdplab run: unknown option '--fast'; usage: ./tdplab run [--checked] [--trace FILE] FILE…\n", text(err));
        err.reset();
        assertEquals(2, command.run("--json", "r.json", "x.scn"));
        assertTrue(text(err).startsWith("tdplab run: --json: reports are not built yet"), text(err));
        assertEquals("", text(out));
    }

    @Test
    void help() {
        assertEquals(0, command.run("--help"));
        assertTrue(text(out).startsWith("usage: ./tdplab run [--checked] [--trace FILE] FILE…\n"), text(out));
    }

    @Test
    void runsFilesCheckedOrNot() throws Exception {
        Path ok = Files.writeString(dir.resolve("ok.scn"), "vm.create vm type=default\n");
        Path dash = Files.writeString(dir.resolve("-odd.scn"), "vm.create vm type=default\ncheck vm\n");
        assertEquals(0, command.run("--checked", ok.toString()));
        assertTrue(text(out).endsWith("1 passed, 0 failed\n"), text(out));
        assertEquals(0, command.run(ok.toString(), "--", dash.toString()));
        assertEquals(1, command.run(Files.writeString(dir.resolve("bad.scn"), "vm.create vm type=nope\n").toString()));
        assertEquals(2, command.run(dir.resolve("missing.scn").toString()));
    }

    @Test
    void traceWritesTheRunsEvents() throws Exception {
        Path scn = Files.writeString(dir.resolve("t.scn"), "vm.create vm type=default vcpus=2\n"
                + "slot.add vm 0 gpa=0 size=2M\nrun vm demand_paging gpa=0 size=64K vcpus=2\n");
        Path trace = dir.resolve("t.trace");
        assertEquals(0, command.run("--trace", trace.toString(), scn.toString()));
        String t = Files.readString(trace);
        assertEquals(16, t.lines().filter(l -> l.contains(": kvm_page_fault: ") && l.endsWith("(FIXED)")).count(), t);
        assertTrue(t.contains("# pid 1000: VM vm\n"), t);
        assertTrue(t.lines().anyMatch(l -> l.matches(" *CPU 1/KVM-1000 +\\[001\\] .*: kvm_tdp_mmu_spte_changed: as id 0 "
                + "gfn \\p{XDigit}+ level 1 old_spte \\p{XDigit}+ new_spte \\p{XDigit}+")), t);
        assertEquals(2, command.run("--trace"));
        assertEquals(2, command.run("--trace", dir.resolve("no/such/dir/t").toString(), scn.toString()));
    }

    private static String text(ByteArrayOutputStream s) {
        return s.toString(StandardCharsets.UTF_8);
    }
}
