package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A negative scenario from the test resources and the exact report it must produce. */
class GoldenTest {
    @TempDir
    Path dir;

    @Test
    void negativeScenarioReport() throws Exception {
        Harness h = new Harness(dir);
        Path scn = Files.copy(Path.of(getClass().getResource("/run/negative.scn").toURI()), dir.resolve("negative.scn"));
        Harness.Result r = h.run(true, scn);
        assertEquals(Files.readString(Path.of(getClass().getResource("/run/negative.out").toURI())), r.out());
        assertEquals(1, r.status());
    }
}
