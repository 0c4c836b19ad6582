package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/** The scenario library ({@code scenarios/*.scn} at the repository root) holds, with the checker after every statement. */
class LibraryTest {
    @TempDir
    Path dir;

    static Path root() {
        return LibraryPaths.root();
    }

    static List<Path> library() throws IOException {
        try (Stream<Path> s = Files.list(root().resolve("scenarios"))) {
            return s.filter(p -> p.getFileName().toString().endsWith(".scn")).sorted().toList();
        }
    }

    @TestFactory
    Stream<DynamicTest> everyScenarioHoldsInCheckedMode() throws IOException {
        List<Path> files = library();
        assertFalse(files.isEmpty(), "no scenarios in " + root());
        return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
            Harness.Result r = new Harness(dir).run(true, f);
            assertEquals(0, r.status(), r.out() + r.err());
        }));
    }

    @Test
    void allTogetherInOneRun() throws IOException {
        List<Path> files = library();
        Harness.Result r = new Harness(dir).run(true, files.toArray(Path[]::new));
        assertEquals(0, r.status(), r.out());
        assertTrue(r.out().endsWith(files.size() + " passed, 0 failed\n"), r.out());
    }

    @Test
    void everyScenarioSaysWhatItMirrorsAndChecks() throws IOException {
        for (Path f : library()) {
            String name = f.getFileName().toString();
            // NN-topic.scn for the core library, BACKEND-topic.scn for a backend's own scenarios
            assertTrue(name.matches("(\\d\\d|[a-z]+)-[a-z0-9_-]+\\.scn"), name + ": files are named NN-topic.scn or "
                    + "BACKEND-topic.scn");
            String head = Files.readString(f).lines().takeWhile(l -> l.startsWith("#")).reduce("", String::concat);
            assertTrue(head.contains("Checked here"), name + ": the header comment says what it checks");
        }
    }
}
