package org.tdplab.mmu.scenario.soak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * The soak on the standalone core: a short one on every type with hot-swaps (each backend unbound and a new one
 * bound under load, the path the runtime's DS takes) finds nothing; one on a VM type whose checker is broken on
 * purpose exits 1 and writes a shrunk scenario that the runner fails the same way.
 */
class SoakTest {
    @TempDir
    Path dir;

    private final Map<String, Supplier<Backend>> makers = Map.of("default", DefaultVmBackend::new, "sw_protected",
            SwProtectedVmBackend::new, "tdx", TdxBackend::new, "snp", SnpBackend::new, "buggy", BuggyBackend::new);
    private final Map<String, Backend> bound = new HashMap<>();
    private final AtomicLong ids = new AtomicLong(100);
    private final VmManager manager;

    SoakTest() {
        makers.forEach((t, m) -> bound.put(t, m.get()));
        manager = Standalone.vmManager(bound.values().toArray(Backend[]::new));
    }

    private synchronized boolean swap(String type) {
        Standalone.unbind(manager, bound.get(type));
        Backend next = makers.get(type).get();
        bound.put(type, next);
        Standalone.bind(manager, next, ids.incrementAndGet(), "1.0.0");
        return true;
    }

    record Run(int status, String out) {
    }

    private Run soak(List<String> types, int vms, long seed) throws InterruptedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            status = new Soak(manager, this::swap, o, o).run(new Soak.Options(types, 0, vms, seed, 2,
                    dir.resolve("out"), false));
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aShortSoakWithHotSwapsFindsNothing() throws InterruptedException {
        Run r = soak(List.of("default", "sw_protected", "tdx", "snp"), 1, 5);
        assertEquals(0, r.status(), r.out());
        for (String type : List.of("default", "sw_protected", "tdx", "snp"))
            assertTrue(r.out().matches("(?s).*soak " + type + ": 1 VMs, \\d+ operations, [1-9]\\d* hot-swaps.*"),
                    r.out());
        assertTrue(manager.vms().isEmpty(), "the soak's VMs are gone");
    }

    /** Ctrl-C in the shell (a request, not an interrupt) stops the soak after the round it came in, VM destroyed. */
    @Test
    void aStopRequestEndsTheSoakAfterItsRound() {
        java.util.concurrent.atomic.AtomicBoolean ctrlC = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger swaps = new java.util.concurrent.atomic.AtomicInteger();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        Soak soak = new Soak(manager, type -> { // the first hot-swap, in round 5, is where Ctrl-C comes
            swaps.incrementAndGet();
            ctrlC.set(true);
            return swap(type);
        }, o, o);
        Soak.Options many = new Soak.Options(List.of("default"), 0, 40, 7, 2, dir.resolve("out"), false);
        Boolean stopped = org.tdplab.mmu.scenario.run.Interruption.during(ctrlC, () -> {
            try {
                soak.run(many);
                return false;
            } catch (InterruptedException e) {
                return true;
            }
        });
        assertTrue(stopped, out.toString(StandardCharsets.UTF_8));
        assertEquals(1, swaps.get(), "it stopped in the round the request came in");
        assertTrue(manager.vms().isEmpty(), "the soak's VM is gone");
        assertFalse(Thread.currentThread().isInterrupted(), "the soak's thread was interrupted");
    }

    @Test
    void aViolationIsWrittenAsAShrunkScenarioThatReproducesIt() throws InterruptedException, IOException {
        Run r = soak(List.of("buggy"), 20, 1);
        assertEquals(1, r.status(), r.out());
        assertTrue(r.out().contains("VIOLATION"), r.out());
        List<Path> files;
        try (var s = Files.list(dir.resolve("out"))) {
            files = s.toList();
        }
        assertEquals(1, files.size(), r.out());
        String scn = Files.readString(files.get(0));
        assertTrue(scn.contains("reproduced on one thread and shrunk"), scn);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            status = new Runner(manager, o, o).run(List.of(files.get(0).toString()), true);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(Runner.FAILED, status, text);
        assertTrue(text.contains("buggy: GFN 0x5 and slot 1 both mapped at 4K"), text);
        assertTrue(scn.lines().filter(l -> !l.startsWith("#") && !l.startsWith("expect")).count() <= 3 + 6, scn);
    }

    /**
     * Each thread's guest writes stay inside its own 64K blocks (two vCPUs writing one page at once race in the
     * guest, which the data oracle would report: the soak's first campaign found exactly that), on its own vCPU;
     * reads, executes and other operations keep their range.
     */
    @Test
    void aThreadsWritesStayInItsOwnBlocks() {
        for (String type : List.of("default", "sw_protected", "tdx", "snp")) {
            Layout layout = Layout.of(type, 3);
            java.util.Random rnd = new java.util.Random(7);
            for (int i = 0; i < 5000; i++) {
                Op op = layout.random(rnd);
                for (int t = 0; t < 3; t++) {
                    Op mine = Soak.own(op, t, 3);
                    assertEquals(t, mine.vcpu());
                    if (!op.isWrite()) {
                        assertEquals(op.gpa(), mine.gpa());
                        assertEquals(op.size(), mine.size());
                        continue;
                    }
                    long first = mine.gpa() / Soak.BLOCK, last = (mine.gpa() + mine.size() - 1) / Soak.BLOCK;
                    assertEquals(first, last, mine.toString());
                    assertEquals(t, first % 3, mine.toString());
                    assertTrue(mine.size() > 0 && mine.gpa() + mine.size() <= Layout.END, mine.toString());
                }
            }
        }
    }
}
