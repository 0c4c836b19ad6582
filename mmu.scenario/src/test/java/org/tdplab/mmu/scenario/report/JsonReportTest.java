package org.tdplab.mmu.scenario.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.scenario.run.Failure;
import org.tdplab.mmu.scenario.run.FileResult;

/** The JSON report keeps schema tdplab-run/1: every key present (nulls written), text escaped, one line. */
class JsonReportTest {
    @Test
    void nullsAreWrittenAndTextRoundTrips() {
        String odd = "quote \" backslash \\ tab \t newline \n bell \u0007 <tag> & é";
        FileResult r = new FileResult("a.scn", 1, 1, List.of(new Failure("a.scn", 2, "x", odd, List.of(odd))),
                List.of(new FileResult.StepRecord(1, odd, "ok", null, null, 1_500_000_000L, List.of(odd))),
                List.of(new FileResult.ExpectRecord(2, "expect stat vm pf_fixed = 1", false, null)),
                List.of(new FileResult.VmRecord("vm", "default", false, Map.of("pf_fixed", 3L), List.of())), 2);
        String text = JsonReport.render(List.of(r), true, 1);
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.contains("\"errno\":null,\"detail\":null"), text);
        JsonObject run = JsonParser.parseString(text).getAsJsonObject();
        assertEquals(JsonReport.SCHEMA, run.get("schema").getAsString());
        assertEquals(0, run.get("passed").getAsInt());
        assertEquals(1, run.get("failed").getAsInt());
        JsonObject f = run.getAsJsonArray("files").get(0).getAsJsonObject();
        JsonObject step = f.getAsJsonArray("steps").get(0).getAsJsonObject();
        assertEquals(odd, step.get("source").getAsString());
        assertEquals(1.5, step.get("seconds").getAsDouble());
        assertTrue(step.get("errno").isJsonNull());
        assertTrue(f.getAsJsonArray("expects").get(0).getAsJsonObject().get("found").isJsonNull());
        assertEquals(odd, f.getAsJsonArray("failures").get(0).getAsJsonObject().get("found").getAsString());
        JsonObject vm = f.getAsJsonArray("vms").get(0).getAsJsonObject();
        assertEquals(3, vm.getAsJsonObject("counters").get("pf_fixed").getAsLong());
        assertTrue(vm.getAsJsonObject("invariants").get("held").getAsBoolean());
    }

    @Test
    void nothingParsedGivesNoFiles() {
        JsonObject run = JsonParser.parseString(JsonReport.render(List.of(), false, 2)).getAsJsonObject();
        assertEquals(2, run.get("status").getAsInt());
        assertEquals(0, run.getAsJsonArray("files").size());
    }
}
