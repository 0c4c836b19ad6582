package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class ProgressTest {
    @Test
    void aLongRunDrawsItsLineOnStderrAndErasesIt() throws InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Progress p = Progress.on(err, true);
        p.at("f.scn", 2, 5, "run vm demand_paging gpa=0 size=1G vcpus=2   ");
        assertTrue(p.line().matches("f\\.scn: statement 2 of 5 \\(run vm demand_paging gpa=0 size=1G vcpus=2\\), \\d+ s"),
                p.line());
        Progress.phase("populate");
        Progress.PAGES.addAndGet(100);
        assertTrue(p.line().matches("f\\.scn: statement 2 of 5 \\(run vm demand_paging gpa=0 size=1G vcpus=2\\): "
                + "populate, 100 pages, \\d+ pages/s"), p.line());
        Thread.sleep(1400);
        p.doing("f.scn: teardown of VM vm");
        assertEquals("f.scn: teardown of VM vm, 0 s", p.line(), "a new thing to do ends the workload's phase");
        p.doing(null);
        assertNull(p.line(), "between statements nothing is drawn");
        p.close();
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith("\r\033[Kf.scn: statement 2 of 5 (run vm demand_paging gpa=0 size=1G vcpus=2): "
                + "populate, 100 pages, "), text);
        assertTrue(text.endsWith("\r\033[K"), text);
    }

    @Test
    void offMeansNoLineAndShortRunsDrawNothing() {
        assertNull(Progress.on(System.err, false));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Progress p = Progress.on(new PrintStream(bytes, true, StandardCharsets.UTF_8), true);
        p.close();
        assertEquals("", bytes.toString(StandardCharsets.UTF_8));
    }
}
