package org.tdplab.mmu.scenario.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.mmu.tdp.vm.Standalone;

/** {@code ./tdplab replay}'s arguments and exit status: 0 the same, 1 different, 2 unreadable. */
class ReplayCommandTest {
    @TempDir
    Path dir;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    private final ReplayCommand command = new ReplayCommand();
    private final RunCommand run = new RunCommand();

    ReplayCommandTest() {
        command.manager = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend());
        run.manager = command.manager;
    }

    private int replay(String... args) {
        return command.replay(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), args);
    }

    private Path traced(String scenario) throws IOException {
        Path scn = Files.writeString(dir.resolve("t.scn"), scenario), trace = dir.resolve("t.trace");
        PrintStream saved = System.out;
        System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, run.run("--quiet", "--trace", trace.toString(), scn.toString()));
        } finally {
            System.setOut(saved);
        }
        return trace;
    }

    private static final String SW = """
            vm.create vm type=sw_protected
            slot.add vm 0 gpa=0 size=2M flags=gmem backing=2M
            attr.set vm gpa=0 size=2M private
            guest vm vcpu=0 write gpa=0 size=8K
            """;

    @Test
    void theSameTypeReplaysWithoutDifferences() throws IOException {
        assertEquals(0, replay("--checked", traced(SW).toString()), text(err));
        assertTrue(text(out).endsWith("no differences\n"), text(out));
    }

    @Test
    void anotherTypeDiffersAndSaysWhere() throws IOException {
        // default has no guest_memfd: the slot fails, and the private fault finds nothing to map
        assertEquals(1, replay("--type", "default", "--max", "1", traced(SW).toString()), text(err));
        assertTrue(text(out).startsWith("line "), text(out));
        assertTrue(text(out).contains("result: trace ok, replay EINVAL"), text(out));
        assertTrue(text(out).contains("more differing steps (--max N shows more)"), text(out));
    }

    @Test
    void badArgumentsAndUnreadableTraces() throws IOException {
        assertEquals(2, replay());
        assertTrue(text(err).startsWith("tdplab replay: no TRACE given; usage: ./tdplab replay"), text(err));
        err.reset();
        assertEquals(2, replay("--max", "many", "t"));
        assertTrue(text(err).startsWith("tdplab replay: --max many is not a count (0 or more)"), text(err));
        err.reset();
        assertEquals(2, replay("--max", "-1", "t"));
        assertTrue(text(err).startsWith("tdplab replay: --max -1 is not a count (0 or more)"), text(err));
        err.reset();
        assertEquals(2, replay("--option", "novalue", "t"));
        assertTrue(text(err).startsWith("tdplab replay: --option novalue is not K=V"), text(err));
        err.reset();
        assertEquals(2, replay(dir.resolve("none.trace").toString()));
        assertTrue(text(err).contains("none.trace"), text(err));
        err.reset();
        Path bad = Files.writeString(dir.resolve("bad.trace"), "# tracer: nop\nnot an event\n");
        assertEquals(2, replay(bad.toString()));
        assertTrue(text(err).startsWith(bad + ":2: not a trace-cmd report event: 'not an event'\n"), text(err));
        err.reset();
        assertEquals(2, replay("--type", "tdx", traced(SW).toString()));
        assertTrue(text(err).startsWith("tdplab replay: --type tdx: no backend serves it; available: default, "
                + "sw_protected;"), text(err));
    }

    @Test
    void anOptionNoReplayedTypeHasIsRefusedBeforeAnythingRuns() throws IOException {
        Path trace = traced(SW);
        assertEquals(2, replay("--option", "colour=blue", trace.toString()));
        assertTrue(text(err).contains("--option colour=blue: VM type sw_protected has no option 'colour'"),
                text(err));
        assertEquals("", text(out), "nothing replayed");
        err.reset();
        assertEquals(2, replay("--type", "default", "--option", "colour=blue", trace.toString()));
        assertTrue(text(err).contains("VM type default has no option 'colour' (its options: slot_zap_all, ad, "),
                text(err));
        err.reset();
        assertEquals(1, replay("--type", "default", "--option", "slot_zap_all=off", "--max", "0", trace.toString()),
                text(err));
        assertTrue(text(out).contains("VM vm (sw_protected → default)"), text(out));
    }

    @Test
    void aValueTheTypeRefusesIsRefusedBeforeAnythingRuns() throws IOException {
        assertEquals(2, replay("--type", "default", "--option", "slot_zap_all=maybe", traced(SW).toString()));
        assertTrue(text(err).contains("--option slot_zap_all=maybe: "), text(err));
        assertEquals("", text(out), "nothing replayed");
    }

    @Test
    void anUnknownOperationOrATraceWithoutAVmIsNotReplayed() throws IOException {
        Path trace = traced(SW);
        java.util.List<String> lines = new java.util.ArrayList<>(Files.readAllLines(trace));
        int op = -1;
        for (int i = 0; i < lines.size() && op < 0; i++)
            if (lines.get(i).contains("KVM_SET_MEMORY_ATTRIBUTES"))
                op = i;
        lines.set(op, lines.get(op).replace("KVM_SET_MEMORY_ATTRIBUTES", "KVM_SET_MEMORY_ATTRIBUTESX"));
        Path unknown = Files.write(dir.resolve("unknown.trace"), lines);
        assertEquals(2, replay(unknown.toString()));
        assertTrue(text(err).startsWith(unknown + ":" + (op + 1) + ": unknown operation 'KVM_SET_MEMORY_ATTRIBUTESX' "
                + "(a replay runs FALLOC_FL_PUNCH_HOLE, "), text(err));
        assertEquals("", text(out));
        for (String text : new String[] { "", "# tracer: nop\n#\n" }) {
            err.reset();
            Path empty = Files.writeString(dir.resolve("empty.trace"), text);
            assertEquals(2, replay(empty.toString()));
            assertTrue(text(err).startsWith(empty + ":1: no VM in the trace, nothing to replay"), text(err));
        }
    }

    @Test
    void aLineMissingAFieldIsNamedWithItsLineBeforeAnythingRuns() throws IOException {
        Path trace = traced(SW);
        java.util.List<String> lines = new java.util.ArrayList<>(Files.readAllLines(trace));
        int fault = -1, op = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (fault < 0 && lines.get(i).contains(": kvm_page_fault: "))
                fault = i;
            if (op < 0 && lines.get(i).contains("KVM_SET_MEMORY_ATTRIBUTES"))
                op = i;
        }
        lines.set(fault, lines.get(fault).replaceAll(" error_code 0x\\p{XDigit}+", ""));
        lines.set(op, lines.get(op).replaceAll(" size=0x\\p{XDigit}+", ""));
        Path bad = Files.write(dir.resolve("missing.trace"), lines);
        assertEquals(2, replay(bad.toString()));
        assertEquals(bad + ":" + (op + 1) + ": KVM_SET_MEMORY_ATTRIBUTES has no size= (it needs gpa= size= private=)\n"
                + bad + ":" + (fault + 1) + ": kvm_page_fault has no error_code (it needs vcpu, address and error_code)\n"
                + "tdplab replay: nothing was replayed: " + bad + " has lines a replay cannot use\n", text(err));
        assertEquals("", text(out));
    }

    @Test
    void badLinesAreCappedAtAHundredThenCounted() throws IOException {
        Path bad = Files.writeString(dir.resolve("noise.trace"), "noise\n".repeat(250));
        assertEquals(2, replay(bad.toString()));
        java.util.List<String> e = text(err).lines().toList();
        assertEquals(102, e.size(), text(err));
        assertEquals(bad + ":100: not a trace-cmd report event: 'noise'", e.get(99));
        assertEquals("… and 150 more (the first 100 are shown)", e.get(100));
    }

    @Test
    void aDeviceOrAnEndlessLineIsRefusedNotBuffered() {
        assertEquals(2, replay("/dev/zero"));
        assertEquals("tdplab replay: /dev/zero: cannot read: line 1 is longer than 65536 characters\n", text(err));
        err.reset();
        assertEquals(2, replay(dir.toString()));
        assertEquals("tdplab replay: " + dir + ": cannot read: is a directory\n", text(err));
    }

    private static String text(ByteArrayOutputStream s) {
        return s.toString(StandardCharsets.UTF_8);
    }
}
