package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    /**
     * In the shell the line goes through Gogo's interruptible channel over the terminal: an interrupt of the drawing
     * thread in the middle of a write would close it, and the terminal with it. Closing the line while a draw is
     * blocked in its write must let the write finish without interrupting it.
     */
    @Test
    void closingNeverInterruptsADrawInProgress() throws Exception {
        java.util.concurrent.CountDownLatch writing = new java.util.concurrent.CountDownLatch(1),
                release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean interrupted = new java.util.concurrent.atomic.AtomicBoolean();
        java.io.OutputStream terminal = new java.io.OutputStream() {
            @Override
            public void write(int b) throws java.io.IOException {
                writing.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    interrupted.set(true);
                    throw new java.nio.channels.ClosedByInterruptException();
                }
            }
        };
        Progress p = Progress.on(new PrintStream(terminal, true, StandardCharsets.UTF_8), true);
        p.at("f.scn", 1, 2, "zap vm gpa=0 size=1G");
        assertTrue(writing.await(30, java.util.concurrent.TimeUnit.SECONDS), "the line was never drawn");
        Thread releaser = new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                return;
            }
            release.countDown();
        });
        releaser.start();
        p.close();
        releaser.join();
        assertFalse(interrupted.get(), "close() interrupted the thread in the middle of its write");
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
