package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

class ShellCommandsTest {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final VmManager manager = Standalone.vmManager(new DefaultVmBackend(), new TdxBackend());
    private final ShellCommands sh = new ShellCommands(manager, new PrintStream(bytes, true, StandardCharsets.UTF_8));

    private String out() {
        String s = bytes.toString(StandardCharsets.UTF_8);
        bytes.reset();
        return s;
    }

    @Test
    void aSessionBuildsAVmAndTouchesIt() {
        sh.create("vm", "type=default", "vcpus=2");
        assertEquals("ok\n", out());
        sh.slot("vm", "0", "gpa=0", "size=4M", "backing=2M");
        assertEquals("ok\n", out());
        sh.access("vm", "vcpu=0", "write", "gpa=0x1000", "value=0x5eed");
        assertEquals("1 page\n", out());
        sh.access("vm", "vcpu=1", "read", "gpa=0x1000");
        assertEquals("1 page, value 0x5eed\n", out());
        sh.access("vm", "vcpu=1", "read", "gpa=8M");
        assertTrue(out().startsWith("exit mmio gpa=0x800000"));
        sh._do("expect", "exit", "mmio", "gpa=8M");
        assertEquals("holds\n", out());
        sh._do("expect", "stat", "vm", "pages_2m", "=", "5");
        assertEquals("expected stat vm pages_2m = 5; found pages_2m = 1\n", out());
        sh.stats("vm", "pages_");
        assertTrue(out().matches("pages_2m +1\n"));
        sh.check("vm");
        assertEquals("invariants hold\n", out());
        sh.zap("vm", "gpa=0", "size=2M");
        assertEquals("ok\n", out());
        sh.slot("delete", "vm", "0");
        assertEquals("ok\n", out());
        sh.slot("delete", "vm", "0");
        assertTrue(out().startsWith("E"));
        sh.slot("vm", "delete", "0");
        assertEquals("usage: slot delete vm … (the sub-command comes first: help slot)\n", out());
    }

    @Test
    void aPrefixThatShowsNoCounterSaysSo() {
        sh.create("vm", "type=default");
        sh.slot("vm", "0", "gpa=0", "size=2M");
        out();
        sh.stats("vm", "nosuchprefix");
        assertEquals("no counter of vm whose name starts with 'nosuchprefix' is other than 0\n", out());
    }

    @Test
    void statsFirmwareListsTheDeclaredCallsAndADestroyedVmKeepsItsCounters() {
        sh.create("td", "type=tdx", "vcpus=1");
        sh.slot("td", "0", "gpa=0", "size=4M", "flags=gmem");
        sh.attr("td", "gpa=0", "size=4M", "private");
        sh._do("tdx.finalize", "td");
        sh.access("td", "vcpu=0", "accept", "gpa=0", "size=8K");
        out();
        sh.stats("td", "firmware");
        String calls = out();
        assertTrue(calls.matches("(?s).*TDH\\.MEM\\.PAGE\\.AUG +2\n.*firmware calls +\\d+\n"), calls);
        assertTrue(!calls.contains("pages_4k") && !calls.contains("TDX_OPERAND_BUSY"), calls);
        sh._do("vm.destroy", "td");
        assertEquals("ok\n", out());
        sh.stats("td", "TDH.MNG.KEY.FREEID");
        assertEquals("TDH.MNG.KEY.FREEID           1\n", out(), "the destroyed TD's final counters");
        sh._do("expect", "stat", "td", "TDH.MEM.PAGE.AUG", "=", "2");
        assertEquals("holds\n", out());
    }

    @Test
    void dumpDecodesEachRootsEntries() {
        sh.create("td", "type=tdx", "vcpus=1");
        sh.slot("td", "0", "gpa=0", "size=4M", "flags=gmem");
        sh.attr("td", "gpa=0", "size=2M", "private");
        sh._do("tdx.finalize", "td");
        sh.access("td", "vcpu=0", "accept", "gpa=0", "size=8K");
        sh.access("td", "vcpu=0", "write", "gpa=2M", "shared");
        out();
        sh.dump("td", "gpa=0", "size=8K");
        String d = out();
        // the direct root has no mapping for private memory; the mirror root walks four levels to a 4K leaf
        assertTrue(d.matches("(?s)gpa 0x0, direct root:\n  L4 spte 0x\\p{XDigit}{16}: table pfn .*"), d);
        assertTrue(d.matches("(?s).*gpa 0x1000, mirror root:\n  L4 spte 0x\\p{XDigit}{16}: table pfn 0x\\p{XDigit}+ R W X"
                + ".*\n  L3 .*\n  L2 .*\n  L1 spte 0x\\p{XDigit}{16}: leaf 4K pfn 0x\\p{XDigit}+ R W X memtype 6 .*"), d);
        sh.dump("td", "gpa=2M");
        assertTrue(out().matches("(?s)gpa 0x200000, direct root:\n  L4 .*\n  L1 spte 0x\\p{XDigit}{16}: leaf 4K .*"));
        sh.dump("nope", "gpa=0");
        assertTrue(out().startsWith("no VM 'nope'"));
        // bit 48 would index the tables as GPA 0 does: refused, not shown as another GPA's entries
        sh.dump("td", "gpa=0x1000000000000");
        assertTrue(out().matches("EINVAL: walk: gpa=0x1000000000000 .* beyond the VM's limit 0x[0-9a-f]+\n"));
        sh.create("d", "type=default");
        sh.slot("d", "0", "gpa=0", "size=4K");
        sh.access("d", "vcpu=0", "write", "gpa=0"); // a root to walk
        out();
        sh.dump("d", "gpa=0xfffffffff000", "size=8K"); // the last page, then past the width: the walk so far stays
        String last = out();
        assertTrue(last.matches("(?s)gpa 0xfffffffff000, direct root:\n.*\n… stopped at gpa 0x1000000000000: EINVAL: "
                + "walk: .*beyond the VM's limit 0x1000000000000\n"), last);
        sh.dump("td", "gpa=0", "size=0");
        assertEquals("EINVAL: mmu:dump: size=0 must be positive\n", out());
    }

    @Test
    void theSessionsVmsGoWithTheShell() {
        sh.create("a", "type=default");
        sh.create("b", "type=tdx");
        assertEquals(2, manager.vms().size());
        sh.deactivate();
        assertEquals(0, manager.vms().size());
    }

    @Test
    void parseErrorsAndRefusalsAreAnswersNotExceptions() {
        sh.create("x", "type=nope");
        assertTrue(out().startsWith("ENODEV: "));
        sh.attr("x");
        assertTrue(out().startsWith("shell:1:"));
        sh._do("run", "x", "demand_paging", "gpa=0", "size=64K", "vcpus=1");
        assertEquals("EINVAL: no VM 'x' in this shell (it has created none)\n", out());
        sh._do("expect", "stat", "x", "pages_4k", "=", "0");
        assertEquals("expected stat x pages_4k = 0; found no VM 'x' in this shell\n", out());
        sh._do("expect", "stat", "x"); // parsed after the statement before it, reported on the line typed
        assertEquals("shell:1:1: expect stat: missing NAME (usage: expect stat VM NAME OP N)\n", out());
    }

    /** What Gogo hands the shell for a command it does not know ({@link ShellSession#_default}). */
    private void unknownCommand(String line) {
        ShellSession session = new ShellSession();
        session.manager = manager;
        session.shell = sh;
        PrintStream system = System.out;
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8)); // where _default answers
        try {
            session._default((Object[]) line.split(" "));
        } finally {
            System.setOut(system);
        }
    }

    @Test
    void scenarioLinesRunAsWrittenAndOtherUnknownCommandsAreNamed() {
        unknownCommand("vm.create td type=tdx vcpus=1");
        assertEquals("ok\n", out());
        unknownCommand("slot.add td 0 gpa=0 size=2M flags=gmem");
        assertEquals("ok\n", out());
        unknownCommand("attr.set td gpa=0 size=2M private");
        assertEquals("ok\n", out());
        unknownCommand("tdx.finalize td"); // a backend's statement
        assertEquals("ok\n", out());
        unknownCommand("guest td vcpu=0 accept gpa=0 size=8K");
        assertEquals("2 pages\n", out());
        unknownCommand("expect stat td pages_4k = 2");
        assertEquals("holds\n", out());
        unknownCommand("vm.create td type=tdx");
        assertTrue(out().startsWith("EEXIST: "), "a refused statement answers its errno");
        unknownCommand("tdx.frobnicate td");
        assertTrue(out().startsWith("shell:1:1: unknown verb 'tdx.frobnicate' (tdx verbs: tdx.fail, tdx.finalize"),
                "an unknown statement is named by the parser, with the backend's verbs");
        unknownCommand("creat td");
        assertEquals("no command 'creat'; did you mean 'create'? (help lists the commands)\n", out());
    }

    @Test
    void runOfAShellVmIsTheWorkloadStatementAndOfAFileRunsTheFile() throws Exception {
        org.tdplab.mmu.scenario.cli.RunCommand run = new org.tdplab.mmu.scenario.cli.RunCommand();
        for (String field : new String[] { "manager", "shell" }) { // the references DS injects
            java.lang.reflect.Field f = run.getClass().getDeclaredField(field);
            f.setAccessible(true);
            f.set(run, field.equals("shell") ? sh : manager);
        }
        sh.create("vm", "type=default");
        sh.slot("vm", "0", "gpa=0", "size=2M");
        out();
        assertEquals(null, run.run(null, "vm", "demand_paging", "gpa=0", "size=2M", "vcpus=1"));
        String ran = out();
        assertTrue(ran.contains("512 pages"), ran);
        sh._do("expect", "stat", "vm", "pages_4k", "=", "512");
        assertEquals("holds\n", out());
        PrintStream system = System.out, systemErr = System.err;
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        System.setOut(new PrintStream(said, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(said, true, StandardCharsets.UTF_8));
        try { // no VM of that name: files, and a workload's name after the first says what run does
            assertEquals(2, run.run(null, "nothere", "demand_paging"));
            assertEquals(2, run.run(null, "nothere", "other.scn"));
        } finally {
            System.setOut(system);
            System.setErr(systemErr);
        }
        assertTrue(said.toString(StandardCharsets.UTF_8).contains("'nothere' is no file, and 'demand_paging' is a "
                + "workload"), said.toString());
        assertTrue(said.toString(StandardCharsets.UTF_8).contains("nothere: cannot read: no such file"), said.toString());
    }
}
