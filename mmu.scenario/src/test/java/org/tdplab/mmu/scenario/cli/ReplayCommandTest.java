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
        assertTrue(text(err).startsWith("tdplab replay: --max many is not a number"), text(err));
        err.reset();
        assertEquals(2, replay("--option", "novalue", "t"));
        assertTrue(text(err).startsWith("tdplab replay: --option novalue is not K=V"), text(err));
        err.reset();
        assertEquals(2, replay(dir.resolve("none.trace").toString()));
        assertTrue(text(err).contains("none.trace"), text(err));
        err.reset();
        Path bad = Files.writeString(dir.resolve("bad.trace"), "# tracer: nop\nnot an event\n");
        assertEquals(2, replay(bad.toString()));
        assertTrue(text(err).endsWith("bad.trace: line 2: not a trace-cmd report event: 'not an event'\n"), text(err));
        err.reset();
        assertEquals(2, replay("--type", "tdx", traced(SW).toString()));
        assertTrue(text(err).startsWith("tdplab replay: --type tdx: no backend serves it; available: default, "
                + "sw_protected;"), text(err));
    }

    private static String text(ByteArrayOutputStream s) {
        return s.toString(StandardCharsets.UTF_8);
    }
}
