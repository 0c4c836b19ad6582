package org.tdplab.mmu.scenario.soak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tdplab.mmu.scenario.run.Runner;

/**
 * A sequence written as a scenario file gives the scenario runner's verdict the same as {@link Trial}'s: random
 * sequences that hold run clean with {@code --checked} (every outcome an {@code expect} line names is the one the
 * runner sees), and a failure against a checker broken on purpose, shrunk, still fails the same way when run.
 */
class RenderedScenarioTest {
    @TempDir
    Path dir;

    record Run(int status, String out) {
    }

    Run run(String text) throws IOException {
        Path file = Files.writeString(dir.resolve("t.scn"), text);
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = new Runner(OpsPropertyTest.MANAGER, o, e).run(List.of(file.toString()), true);
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8));
    }

    static List<Op> random(Layout layout, long seed, int n) {
        Random rnd = new Random(seed);
        List<Op> ops = new ArrayList<>();
        for (int i = 0; i < n; i++)
            ops.add(layout.random(rnd));
        return ops;
    }

    @ParameterizedTest
    @ValueSource(strings = { "default", "sw_protected", "tdx", "snp" })
    void passingSequencesRunCleanAsScenarios(String type) throws IOException {
        Layout layout = Layout.of(type, 2);
        for (long seed = 1; seed <= 3; seed++) {
            Trial.Verdict v = Trial.run(OpsPropertyTest.MANAGER, layout, random(layout, seed, 60));
            assertTrue(!v.failed(), () -> "seed " + v.problems());
            String scn = v.scenario(type + " seed " + seed);
            Run r = run(scn);
            assertEquals(Runner.OK, r.status(), () -> scn + "\n---\n" + r.out());
        }
    }

    @Test
    void aShrunkFailureReproducesThroughTheRunner() throws IOException {
        Layout layout = Layout.of("buggy", 2);
        Trial.Verdict failing = null;
        for (long seed = 1; failing == null && seed < 200; seed++) {
            Trial.Verdict v = Trial.run(OpsPropertyTest.MANAGER, layout, random(layout, seed, 80));
            if (v.failed())
                failing = v;
        }
        assertTrue(failing != null, "some random sequence maps both GFN 0x5 and slot 1");
        Trial.Verdict shrunk = Trial.shrink(OpsPropertyTest.MANAGER, failing, 400);
        assertTrue(shrunk.failed());
        assertTrue(shrunk.failedAt() + 1 < failing.failedAt() + 1, () -> shrunk.scenario("shrunk"));
        // 1-minimal: without any one of its operations the sequence holds
        List<Op> ops = shrunk.ops().subList(0, shrunk.failedAt() + 1);
        for (int i = 0; i < ops.size(); i++) {
            List<Op> fewer = new ArrayList<>(ops);
            fewer.remove(i);
            int dropped = i;
            assertTrue(!Trial.run(OpsPropertyTest.MANAGER, layout, fewer).failed(),
                    () -> "still fails without operation " + dropped + ":\n" + shrunk.scenario("shrunk"));
        }
        assertEquals(List.of("buggy: GFN 0x5 and slot 1 both mapped at 4K"), shrunk.problems());
        Run r = run(shrunk.scenario("shrunk"));
        assertEquals(Runner.FAILED, r.status(), r.out());
        assertTrue(r.out().contains("buggy: GFN 0x5 and slot 1 both mapped at 4K"), r.out());
        // and the same file with the last operation dropped holds: the failure is the sequence's, not the prelude's
        Run shorter = run(Trial.run(OpsPropertyTest.MANAGER, layout, ops.subList(0, ops.size() - 1)).scenario("-1"));
        assertEquals(Runner.OK, shorter.status(), shorter.out());
    }
}
