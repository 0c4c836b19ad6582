package org.tdplab.mmu.scenario.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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
        assertEquals("tdplab run: no scenario files given; usage: ./tdplab run [--checked] [--quiet] [--trace FILE] [--json FILE] [--html FILE] FILE…\n", text(err));
        err.reset();
        assertEquals(2, command.run("--fast", "x.scn"));
        assertEquals("tdplab run: unknown option '--fast'; usage: ./tdplab run [--checked] [--quiet] [--trace FILE] [--json FILE] [--html FILE] FILE…\n", text(err));
        err.reset();
        assertEquals(2, command.run("x.scn", "--html"));
        assertTrue(text(err).startsWith("tdplab run: --html needs a FILE"), text(err));
        err.reset();
        // the workload statement typed as the shell's run command: said so, not five unreadable files
        assertEquals(2, command.run("vm", "demand_paging", "gpa=0", "size=4M", "vcpus=1"));
        assertTrue(text(err).startsWith("tdplab run: 'vm' is no file, and 'demand_paging' is a workload: 'run VM "
                + "WORKLOAD …' is a line of a scenario file, and in the shell runs it on a VM the shell has (it has no "
                + "VM 'vm' now)"), text(err));
        assertEquals("", text(out));
    }

    @Test
    void help() {
        assertEquals(0, command.run("--help"));
        assertTrue(text(out).startsWith("usage: ./tdplab run [--checked] [--quiet] [--trace FILE] [--json FILE] [--html FILE] FILE…\n"), text(out));
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
    void aDirectoryRunsItsScenariosInNameOrder() throws Exception {
        Path library = Files.createDirectory(dir.resolve("library"));
        Files.writeString(library.resolve("b.scn"), "vm.create vm type=default\n");
        Files.writeString(library.resolve("a.scn"), "vm.create vm type=default\ncheck vm\n");
        Files.writeString(library.resolve("notes.txt"), "not a scenario\n");
        Files.createDirectory(library.resolve("sub")); // not descended into
        Files.writeString(library.resolve("sub").resolve("c.scn"), "vm.create vm type=nope\n");
        assertEquals(0, command.run(library.toString()));
        String said = text(out);
        assertTrue(said.indexOf("a.scn: ") >= 0 && said.indexOf("a.scn: ") < said.indexOf("b.scn: "), said);
        assertTrue(said.endsWith("2 passed, 0 failed\n"), said);
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertEquals(2, command.run(empty.toString()));
        assertTrue(text(err).startsWith("tdplab run: " + empty + " is a directory without .scn files"), text(err));
    }

    @Test
    void traceWritesTheRunsEvents() throws Exception {
        Path scn = Files.writeString(dir.resolve("t.scn"), "vm.create vm type=default vcpus=2\n"
                + "slot.add vm 0 gpa=0 size=2M\nrun vm demand_paging gpa=0 size=64K vcpus=2\n");
        Path trace = dir.resolve("t.trace");
        assertEquals(0, command.run("--trace", trace.toString(), scn.toString()));
        String t = Files.readString(trace);
        // two vCPUs race for the first tables: a fault that lost the race ends in RETRY and is taken again
        long faults = t.lines().filter(l -> l.contains(": kvm_page_fault: ")).count();
        assertEquals(faults, t.lines().filter(l -> l.contains(": tdplab_page_fault_done: ")).count(), t);
        assertEquals(16, t.lines().filter(l -> l.contains(": tdplab_page_fault_done: ") && l.endsWith("result FIXED"))
                .count(), t);
        assertEquals(faults - 16, t.lines().filter(l -> l.contains(": tdplab_page_fault_done: ")
                && (l.endsWith("result RETRY") || l.endsWith("result SPURIOUS"))).count(), t);
        assertTrue(t.contains(": tdplab_vm_op: KVM_CREATE_VM type=default vcpus=2 gpaw="), t);
        assertTrue(t.contains("# pid 1000: VM vm\n"), t);
        assertTrue(t.lines().anyMatch(l -> l.matches(" *CPU 1/KVM-1000 +\\[001\\] .*: kvm_tdp_mmu_spte_changed: as id 0 "
                + "gfn \\p{XDigit}+ level 1 old_spte \\p{XDigit}+ new_spte \\p{XDigit}+")), t);
        assertEquals(2, command.run("--trace"));
        assertEquals(2, command.run("--trace", dir.resolve("no/such/dir/t").toString(), scn.toString()));
    }

    @Test
    void jsonReportsEveryStatementExpectationAndVm() throws Exception {
        Path scn = Files.writeString(dir.resolve("j.scn"), "vm.create vm type=default vcpus=2\n"
                + "slot.add vm 0 gpa=0 size=2M\nrun vm demand_paging gpa=0 size=64K vcpus=2\n"
                + "expect stat vm pf_fixed = 16\nguest vm vcpu=0 read gpa=4M\nexpect exit mmio gpa=4M\n"
                + "slot.add vm 0 gpa=0 size=4K\nexpect stat vm pages_4k = 99\n");
        Path json = dir.resolve("r.json");
        assertEquals(1, command.run("--json", json.toString(), "--checked", scn.toString()));
        com.google.gson.JsonObject r = com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertEquals("tdplab-run/1", r.get("schema").getAsString());
        assertEquals(1, r.get("status").getAsInt());
        assertTrue(r.get("checked").getAsBoolean());
        com.google.gson.JsonObject f = r.getAsJsonArray("files").get(0).getAsJsonObject();
        assertEquals(false, f.get("ok").getAsBoolean());
        com.google.gson.JsonArray steps = f.getAsJsonArray("steps");
        assertEquals(5, steps.size());
        assertTrue(steps.get(2).getAsJsonObject().getAsJsonArray("output").get(0).getAsString()
                .startsWith("demand_paging: 2 vCPUs"));
        assertEquals("exit", steps.get(3).getAsJsonObject().get("result").getAsString());
        assertEquals("EEXIST", steps.get(4).getAsJsonObject().get("errno").getAsString());
        com.google.gson.JsonArray expects = f.getAsJsonArray("expects");
        assertTrue(expects.get(0).getAsJsonObject().get("held").getAsBoolean());
        assertEquals(false, expects.get(2).getAsJsonObject().get("held").getAsBoolean());
        assertEquals(2, f.getAsJsonArray("failures").size());
        com.google.gson.JsonObject vm = f.getAsJsonArray("vms").get(0).getAsJsonObject();
        assertEquals("vm", vm.get("name").getAsString());
        assertEquals(16, vm.getAsJsonObject("counters").get("pf_fixed").getAsInt());
        assertTrue(vm.getAsJsonObject("invariants").get("held").getAsBoolean());
    }

    @Test
    void reportTargetsAreCheckedBeforeTheRun() throws Exception {
        Path scn = Files.writeString(dir.resolve("ok.scn"), "vm.create vm type=default\n");
        for (String option : new String[] { "--trace", "--json", "--html" }) {
            err.reset();
            out.reset();
            assertEquals(2, command.run(option, dir.resolve("no/such/dir/r").toString(), scn.toString()));
            assertEquals("tdplab run: " + option + " " + dir.resolve("no/such/dir/r") + ": cannot write: no such "
                    + "directory: " + dir.resolve("no/such/dir") + "\n", text(err));
            assertEquals("", text(out), "nothing runs");
            err.reset();
            assertEquals(2, command.run(option, dir.toString(), scn.toString()));
            assertTrue(text(err).endsWith(": cannot write: is a directory\n"), text(err));
            err.reset();
            assertEquals(2, command.run(option, "", scn.toString()));
            assertTrue(text(err).endsWith(": cannot write: an empty file name\n"), text(err));
            err.reset();
            assertEquals(2, command.run(option, "-", scn.toString()));
            assertTrue(text(err).contains("'-' is no file here"), text(err));
        }
    }

    @Test
    void noReportOverwritesAScenarioOrAnotherReport() throws Exception {
        String text = "vm.create vm type=default\n";
        Path scn = Files.writeString(dir.resolve("s.scn"), text);
        for (String option : new String[] { "--trace", "--json", "--html" }) {
            err.reset();
            assertEquals(2, command.run(option, scn.toString(), scn.toString()));
            assertTrue(text(err).startsWith("tdplab run: " + option + " " + scn + " is also a scenario file the run "
                    + "reads: writing it would destroy it; nothing was run or written"), text(err));
            assertEquals(text, Files.readString(scn));
        }
        err.reset();
        Path same = dir.resolve("same.out");
        assertEquals(2, command.run("--trace", same.toString(), "--json", dir.resolve(".").resolve("same.out")
                .toString(), scn.toString()));
        assertTrue(text(err).startsWith("tdplab run: --trace and --json name the same file"), text(err));
        assertFalse(Files.exists(same));
        assertEquals("", text(out), "nothing runs");
    }

    @Test
    void aLinkOrADeviceIsWrittenThroughNotReplaced() throws Exception {
        Path scn = Files.writeString(dir.resolve("s.scn"), "vm.create vm type=default\n");
        Path real = Files.writeString(dir.resolve("real.trace"), "old\n");
        Path link = Files.createSymbolicLink(dir.resolve("link.trace"), real);
        assertEquals(0, command.run("--trace", link.toString(), scn.toString()), text(err));
        assertTrue(Files.isSymbolicLink(link), "the link stays a link (as /dev/stdout, which may lead to a file)");
        assertTrue(Files.readString(real).contains("KVM_CREATE_VM"), Files.readString(real));
        assertEquals(0, command.run("--json", "/dev/null", "--html", "/dev/null", scn.toString()), text(err));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().endsWith(".part")).toList());
        }
    }

    @Test
    void aRunThatDoesNotGetGoingLeavesTheTraceAndSaysWhyInTheReports() throws Exception {
        Path good = Files.writeString(dir.resolve("good.scn"), "vm.create vm type=default\n");
        Path bad = Files.writeString(dir.resolve("bad.scn"), "vm.create vm type=default\nfoo\n");
        Path trace = dir.resolve("t.trace"), json = dir.resolve("r.json"), html = dir.resolve("r.html");
        assertEquals(0, command.run("--trace", trace.toString(), good.toString()));
        String before = Files.readString(trace);
        assertTrue(before.contains("KVM_CREATE_VM"), before);
        assertEquals(2, command.run("--trace", trace.toString(), "--json", json.toString(), "--html",
                html.toString(), bad.toString()));
        assertEquals(before, Files.readString(trace), "the trace of the run before is kept");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().endsWith(".part")).toList());
        }
        com.google.gson.JsonObject r = com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertEquals(2, r.get("status").getAsInt());
        com.google.gson.JsonArray why = r.getAsJsonArray("unreadable");
        assertTrue(why.get(0).getAsString().startsWith(bad + ":2:1: unknown verb 'foo'"), why.toString());
        assertEquals("nothing was run: 1 file could not be read or parsed", why.get(1).getAsString());
        String page = Files.readString(html);
        assertTrue(page.contains("<ul class=\"unreadable\">") && page.contains(":2:1: unknown verb "), "the page says why");
        assertEquals(0, command.run("--trace", trace.toString(), "--json", json.toString(), good.toString()));
        assertEquals(0, com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject()
                .getAsJsonArray("unreadable").size());
    }

    @Test
    void aWriteThatFailsFailsTheCommand() throws Exception {
        Path scn = Files.writeString(dir.resolve("ok.scn"), "vm.create vm type=default\nslot.add vm 0 gpa=0 size=2M\n"
                + "guest vm vcpu=0 write gpa=0 size=64K\n");
        assertEquals(1, command.run("--trace", "/dev/full", scn.toString()));
        assertEquals("tdplab run: --trace /dev/full: cannot write: No space left on device; the trace is incomplete\n",
                text(err));
        assertTrue(text(out).endsWith("1 passed, 0 failed\n"), text(out));
        err.reset();
        assertEquals(1, command.run("--json", "/dev/full", scn.toString()));
        assertEquals("tdplab run: --json /dev/full: cannot write: No space left on device\n", text(err));
        err.reset();
        assertEquals(1, command.run("--html", "/dev/full", scn.toString()));
        assertEquals("tdplab run: --html /dev/full: cannot write: No space left on device\n", text(err));
    }

    @Test
    void aDeviceOrAnOversizedFileIsRefusedUnread() throws Exception {
        assertEquals(2, command.run("/dev/zero"));
        assertEquals("/dev/zero: cannot read: gave more than 8 MiB (an endless file or device?); nothing of it was "
                + "used\nnothing was run: 1 file could not be read or parsed\n", text(err));
        err.reset();
        Path big = dir.resolve("big.scn");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.setLength((8L << 20) + 1);
        }
        assertEquals(2, command.run(big.toString()));
        assertTrue(text(err).startsWith(big + ": cannot read: is 8388609 bytes, more than the 8 MiB an input may be\n"),
                text(err));
    }

    @Test
    void aFifoIsReadUpToItsEnd() throws Exception {
        Path fifo = dir.resolve("in.scn");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        Thread writer = new Thread(() -> {
            try {
                Files.writeString(fifo, "vm.create vm type=default\ncheck vm\n");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        writer.start();
        assertEquals(0, command.run(fifo.toString()), text(err));
        writer.join(10_000);
        assertTrue(text(out).endsWith("in.scn: 2 statements, 0 expectations, ok\n1 passed, 0 failed\n"), text(out));
    }

    @Test
    void parseErrorsAreCappedAtAHundredThenCounted() throws Exception {
        Path a = Files.writeString(dir.resolve("a.scn"), "nonsense\n".repeat(80));
        Path b = Files.writeString(dir.resolve("b.scn"), "nonsense\n".repeat(1500));
        assertEquals(2, command.run(a.toString(), b.toString()));
        java.util.List<String> e = text(err).lines().toList();
        assertEquals(102, e.size(), text(err));
        assertTrue(e.get(99).startsWith(b + ":20:1: "), e.get(99));
        assertEquals("… and 1480 more errors (the first 100 are shown)", e.get(100));
        assertEquals("nothing was run: 2 files could not be read or parsed", e.get(101));
    }

    private static String text(ByteArrayOutputStream s) {
        return s.toString(StandardCharsets.UTF_8);
    }
}
