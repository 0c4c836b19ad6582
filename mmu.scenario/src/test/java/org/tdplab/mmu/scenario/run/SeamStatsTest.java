package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.report.HtmlReport;
import org.tdplab.mmu.scenario.report.JsonReport;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * Firmware calls by the backend's declaration (lower-case names included) in workloads, {@code expect stat} and the
 * reports; destroyed VMs kept in the reports with their final counters; and every file of a run on a fresh host.
 */
class SeamStatsTest {
    @TempDir
    Path dir;

    final VmManager manager = Standalone.vmManager(new DefaultVmBackend(), new TdxBackend(), new SnpBackend(),
            new HypBackend());

    private Runner runner(ByteArrayOutputStream out) {
        return new Runner(manager, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)).pictures(true);
    }

    private Path file(String name, String text) throws Exception {
        return Files.writeString(dir.resolve(name), text);
    }

    static final String HYP = """
            vm.create h type=hyp
            slot.add h 0 gpa=0 size=4M
            expect stat h hyp_share = 0
            expect stat h firmware_calls = 0
            run h demand_paging gpa=0 size=1M vcpus=1
            expect stat h hyp_map = 256
            hyp.share h
            expect stat h hyp_share = 1
            expect stat h firmware_calls = 257
            expect stat h BUSY_SEEN = 0
            vm.create gone type=hyp
            expect stat gone hyp_vm_seq = 2
            vm.destroy gone
            expect stat gone hyp_reclaim = 1
            expect stat gone firmware_calls = 1
            """;

    @Test
    void lowerCaseFirmwareCallsCountEverywhere() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Runner r = runner(out);
        int status = r.run(List.of(file("hyp.scn", HYP).toString()), true);
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, status, text);
        assertTrue(text.contains("firmware calls 256 (hyp_map 256)"), text);
        assertFalse(text.contains("BUSY_SEEN"), "an upper-case counter that is not declared is no firmware call");

        JsonObject json = JsonParser.parseString(JsonReport.render(r.results(), true, status)).getAsJsonObject();
        JsonArray vms = json.getAsJsonArray("files").get(0).getAsJsonObject().getAsJsonArray("vms");
        assertEquals(2, vms.size());
        JsonObject gone = vms.get(0).getAsJsonObject(), h = vms.get(1).getAsJsonObject();
        assertEquals("gone", gone.get("name").getAsString(), "destroyed VMs come first, as they were destroyed");
        assertTrue(gone.get("destroyed").getAsBoolean());
        assertEquals(1, gone.getAsJsonObject("counters").get("hyp_reclaim").getAsLong(), "its final counters");
        assertTrue(gone.getAsJsonObject("invariants").get("held").getAsBoolean());
        assertFalse(h.get("destroyed").getAsBoolean());
        List<String> calls = new ArrayList<>();
        h.getAsJsonArray("firmware_calls").forEach(e -> calls.add(e.getAsString()));
        assertEquals(List.of("hyp_map", "hyp_reclaim", "hyp_share"), calls);

        String html = HtmlReport.render(r.results(), true, status);
        assertEquals(2, count(html, "-firmware\"></div>"), "both VMs, the destroyed one too, draw their calls");
        assertFalse(html.contains("no firmware calls"), html);
        assertTrue(html.contains("destroyed at line 13"), "the destroyed VM's picture says so");
    }

    @Test
    void aFileRunTwiceInOneRunGivesTheSameCounters() throws Exception {
        List<String> files = new ArrayList<>();
        Path hyp = file("hyp.scn", HYP);
        files.add(hyp.toString());
        files.add(hyp.toString());
        for (String name : List.of("tdx-teardown-gpaw52.scn", "snp-host-and-teardown.scn", "tutorial-td.scn")) {
            String library = LibraryPaths.scenarios().resolve(name).toString();
            files.add(library);
            files.add(library);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Runner r = runner(out);
        assertEquals(0, r.run(files, true), out.toString(StandardCharsets.UTF_8));
        List<FileResult> results = r.results();
        for (int i = 0; i < results.size(); i += 2) {
            assertEquals(counters(results.get(i)), counters(results.get(i + 1)), results.get(i).file());
            assertFalse(results.get(i).vms().isEmpty());
        }
    }

    private static List<Map<String, Long>> counters(FileResult r) {
        return r.vms().stream().map(FileResult.VmRecord::counters).toList();
    }

    private static int count(String s, String what) {
        int n = 0;
        for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1))
            n++;
        return n;
    }
}
