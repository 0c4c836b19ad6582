package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * Ctrl-C in the shell asks the command to stop ({@link Interruption}): a run stops at the next statement boundary, a
 * workload's vCPUs stop at their next check, and the request does not outlive the command; a thread interrupted by
 * other means stops the same way. The request is made before the command here, so what happens does not depend on
 * timing.
 */
class InterruptTest {
    @TempDir
    Path dir;

    private final VmManager manager = Standalone.vmManager(new DefaultVmBackend());

    @Test
    void aWorkloadStopsEarlyAndTheSessionSaysSo() {
        Session s = new Session(manager);
        s.execute("vm.create vm type=default vcpus=2");
        s.execute("slot.add vm 0 gpa=0 size=1G");
        Thread.currentThread().interrupt();
        List<String> out = s.execute("run vm demand_paging gpa=0 size=1G vcpus=2");
        assertFalse(Thread.interrupted(), "the interrupt ends with the command");
        assertEquals("interrupted", out.get(out.size() - 1), out.toString());
        long touched = s.vm("vm").orElseThrow().stats().get("pf_fixed");
        assertTrue(touched > 0 && touched <= 2 * 1024, "each vCPU stopped at its first check: " + touched);
        s.close();
    }

    /** What Ctrl-C in the shell does: a request, and the thread is never interrupted (its writes would break). */
    @Test
    void aRequestStopsAWorkloadWithoutInterruptingTheThread() {
        Session s = new Session(manager);
        s.execute("vm.create vm type=default vcpus=2");
        s.execute("slot.add vm 0 gpa=0 size=1G");
        java.util.concurrent.atomic.AtomicBoolean ctrlC = new java.util.concurrent.atomic.AtomicBoolean(true);
        List<String> out = Interruption.during(ctrlC, () -> {
            List<String> o = s.execute("run vm demand_paging gpa=0 size=1G vcpus=2");
            assertFalse(Thread.currentThread().isInterrupted(), "the command's thread was interrupted");
            return o;
        });
        assertEquals("interrupted", out.get(out.size() - 1), out.toString());
        assertFalse(ctrlC.get(), "the request ends with the command");
        long touched = s.vm("vm").orElseThrow().stats().get("pf_fixed");
        assertTrue(touched > 0 && touched <= 2 * 1024, "each vCPU stopped at its first check: " + touched);
        s.close();
    }

    @Test
    void aRunStopsAtTheNextStatementAndRunsNoFurtherFile() throws Exception {
        Path a = Files.writeString(dir.resolve("a.scn"), "vm.create vm type=default\nslot.add vm 0 gpa=0 size=2M\n");
        Path b = Files.writeString(dir.resolve("b.scn"), "vm.create vm type=default\n");
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream out = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
        Thread.currentThread().interrupt();
        int status = new Runner(manager, out, out).run(List.of(a.toString(), b.toString()), false);
        assertFalse(Thread.interrupted(), "the interrupt ends with the run");
        String text = bytes.toString(java.nio.charset.StandardCharsets.UTF_8).replace(dir + "/", "");
        assertEquals(Runner.FAILED, status);
        assertTrue(text.startsWith("a.scn:1: expected to run to the end; found interrupted before this line\n"), text);
        assertTrue(text.contains("interrupted: 1 more file not run\n0 passed, 1 failed\n"), text);
        assertTrue(manager.vms().isEmpty(), "nothing was left behind");
    }
}
