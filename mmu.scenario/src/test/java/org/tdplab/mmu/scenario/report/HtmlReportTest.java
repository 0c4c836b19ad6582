package org.tdplab.mmu.scenario.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.xml.parsers.DocumentBuilderFactory;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.tdp.vm.Standalone;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** {@code --html}: a well-formed, self-contained page with its charts and their data, every text escaped. */
class HtmlReportTest {
    @TempDir
    Path dir;

    static final String SCENARIO = "# a <script>alert('x')</script> & more\n"
            + "vm.create td type=tdx vcpus=2\n"
            + "slot.add td 0 gpa=0 size=4M flags=gmem\n"
            + "attr.set td gpa=0 size=2M private\n"
            + "tdx.finalize td\n"
            + "guest td vcpu=0 accept gpa=0 size=64K\n"
            + "guest td vcpu=0 write gpa=0x200000 size=16K\n"
            + "vm.create vm type=default vcpus=2\n"
            + "slot.add vm 0 gpa=0 size=4M backing=2M\n"
            + "run vm demand_paging gpa=0 size=1M vcpus=2\n"
            + "zap vm gpa=0 size=2M\n"
            + "guest vm vcpu=0 write gpa=0x300000 size=4K\n"
            + "expect stat vm pf_taken = 12345\n";

    /** Runs {@code text} as one scenario file with pictures and renders the page. */
    static String report(Path dir, String text) throws Exception {
        Path scn = Files.writeString(dir.resolve("s<&>.scn"), text);
        Runner runner = new Runner(Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(),
                new TdxBackend()), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)).pictures(true);
        int status = runner.run(List.of(scn.toString()), true);
        return HtmlReport.render(runner.results(), true, status);
    }

    /** The page as XML without its scripts' text (inline JavaScript is not XML), to check it is well formed. */
    static Document parse(String html) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(false);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(markup(html).replaceFirst("<!DOCTYPE html>", "")
                .getBytes(StandardCharsets.UTF_8)));
    }

    /** The page without its scripts' text. */
    static String markup(String html) {
        return html.replaceAll("(?s)(<script[^>]*>).*?</script>", "$1</script>");
    }

    /** The charts' data the page inlines. */
    static JsonObject data(String html) {
        Matcher m = Pattern.compile("(?s)<script type=\"application/json\" id=\"tdplab-data\">(.*?)</script>")
                .matcher(html);
        assertTrue(m.find(), "the page carries its data");
        return JsonParser.parseString(m.group(1)).getAsJsonObject();
    }

    static List<String> charts(Document d) {
        List<String> out = new ArrayList<>();
        NodeList divs = d.getElementsByTagName("div");
        for (int i = 0; i < divs.getLength(); i++) {
            String c = ((Element) divs.item(i)).getAttribute("class");
            if (c.startsWith("chart "))
                out.add(c.substring("chart ".length()));
        }
        return out;
    }

    /** The runs {@code [lane, from, to, state]} of a VM's first memslot. */
    static List<List<Long>> runs(JsonObject vm) {
        List<List<Long>> out = new ArrayList<>();
        for (JsonElement r : vm.getAsJsonArray("slots").get(0).getAsJsonObject().getAsJsonArray("runs")) {
            List<Long> run = new ArrayList<>();
            r.getAsJsonArray().forEach(x -> run.add(x.getAsLong()));
            out.add(run);
        }
        return out;
    }

    @Test
    void wellFormedWithTheChartsAndTheirData() throws Exception {
        String html = report(dir, SCENARIO);
        Document d = parse(html);
        assertEquals(List.of("gpa", "levels", "firmware", "gpa", "levels", "timeline"), charts(d), html);
        JsonObject data = data(html);
        JsonObject td = data.getAsJsonArray("vms").get(0).getAsJsonObject();
        assertEquals("[\"attributes\",\"direct root\",\"mirror root\"]", td.get("lanes").toString());
        List<List<Long>> runs = runs(td);
        // the attribute lane (private 0–2M), the mirror root's 4K leaves where the guest accepted 64K
        assertTrue(runs.contains(List.of(0L, 0L, 0x200000L, (long) PageData.PRIVATE)), runs.toString());
        assertTrue(runs.contains(List.of(0L, 0x200000L, 0x400000L, (long) PageData.SHARED)), runs.toString());
        assertTrue(runs.contains(List.of(2L, 0L, 0x10000L, 1L)), runs.toString());
        JsonObject fw = td.getAsJsonObject("firmware");
        int aug = fw.getAsJsonArray("labels").asList().indexOf(new JsonPrimitive("TDH.MEM.PAGE.AUG"));
        assertEquals(16, fw.getAsJsonArray("ok").get(aug).getAsLong(), fw.toString());
        assertEquals(0, fw.getAsJsonArray("failed").get(aug).getAsLong(), fw.toString());
        assertTrue(td.getAsJsonObject("history").getAsJsonArray("events").toString()
                .contains("\"TDH.MEM.PAGE.AUG: TDX_SUCCESS\""), td.toString());
        // the default VM: 2M leaves after its workload, the first 2M zapped, then one 4K write in the second
        List<List<Long>> vm = runs(data.getAsJsonArray("vms").get(1).getAsJsonObject());
        assertTrue(vm.contains(List.of(1L, 0L, 0x200000L, 0L)), vm.toString());
        assertTrue(vm.contains(List.of(1L, 0x200000L, 0x400000L, 2L)), vm.toString());
        // the workload's faults on the timeline
        assertTrue(html.matches("(?s).*faults: [1-9][0-9]*, zaps: [0-9]+.*"), html);
        // self-contained: the scripts are inline, nothing is fetched
        String markup = markup(html);
        assertFalse(markup.contains("src=") || markup.contains("href=") || markup.contains("url(")
                || markup.contains("<link") || markup.contains("<img"), markup);
        assertTrue(html.contains("Licensed to the Apache Software Foundation"), "the library keeps its licence header");
        // the failed expectation highlighted
        assertTrue(html.contains("<tr class=\"bad\"><td>13</td><td>expect stat vm pf_taken = 12345</td>"), html);
        assertTrue(html.contains("s&lt;&amp;&gt;.scn"), html);
        assertFalse(html.contains("s<&>.scn"), html);
        assertTrue(html.contains("1 failed"), html);
    }

    static String tutorial() throws Exception {
        return Files.readString(Path.of(System.getProperty("tdplab.root", "..")).resolve("scenarios/tutorial-td.scn"));
    }

    @Test
    void theTutorialsConversionAtX3000IsARunOfItsOwnWithItsHistory() throws Exception {
        String text = tutorial();
        List<String> lines = text.lines().toList();
        int line = 1 + lines.indexOf(lines.stream().filter(l -> l.contains("convert shared gpa=0x3000")).findFirst()
                .orElseThrow());
        String html = report(dir, text);
        JsonObject td = data(html).getAsJsonArray("vms").get(0).getAsJsonObject();
        List<List<Long>> runs = runs(td);
        assertTrue(runs.contains(List.of(0L, 0x3000L, 0x4000L, (long) PageData.SHARED)), runs.toString());
        assertTrue(runs.contains(List.of(0L, 0L, 0x3000L, (long) PageData.PRIVATE)), runs.toString());
        assertTrue(runs.contains(List.of(2L, 0L, 0x3000L, 1L)), "the measured pages stay mapped: " + runs);
        String events = td.getAsJsonObject("history").getAsJsonArray("events").toString();
        assertTrue(events.matches("(?s).*\\[[0-9.]+," + line + ",\"\",3,1,\"TDH.MEM.PAGE.REMOVE: TDX_SUCCESS\",0].*"), events);
        assertTrue(events.matches("(?s).*\\[[0-9.]+," + line + ",\"mirror\",3,1,\"leaf rwx → none\",0].*"), events);
    }

    @Test
    void escapesText() {
        assertEquals("a&lt;b&gt;&amp;&quot;&#39;", HtmlReport.esc("a<b>&\"'"));
        assertEquals("", HtmlReport.esc(null));
        assertEquals("x y", HtmlReport.esc("x\u0001y"));
    }

    @Test
    void anEmptyRunIsAPageToo() throws Exception {
        Document d = parse(HtmlReport.render(List.of(), false, 2));
        assertEquals(List.of(), charts(d));
        assertTrue(d.getElementsByTagName("h1").item(0).getTextContent().contains("0 passed, 0 failed"));
    }

    @Test
    void theAttributeLaneShowsConversionsMadeByGuestsAndWorkloads() throws Exception {
        // the last statement fails (its expectation is missing), so the file fails; the lane must not change
        String html = report(dir, "vm.create vm type=sw_protected vcpus=2\n"
                + "slot.add vm 0 gpa=0 size=2M flags=gmem backing=2M\n"
                + "attr.set vm gpa=0 size=2M private\n"
                + "guest vm vcpu=0 convert shared gpa=0x1000 size=4K\n"
                + "attr.set vm gpa=0x1001 size=0x1000 private\n"); // EINVAL (misaligned): changes nothing
        List<List<Long>> runs = runs(data(html).getAsJsonArray("vms").get(0).getAsJsonObject());
        assertEquals(List.of(List.of(0L, 0L, 0x1000L, (long) PageData.PRIVATE),
                List.of(0L, 0x1000L, 0x2000L, (long) PageData.SHARED),
                List.of(0L, 0x2000L, 0x200000L, (long) PageData.PRIVATE)),
                runs.stream().filter(r -> r.get(0) == 0).toList());
    }

    @Test
    void aTdWithHugePagesShowsItsTwoMegabytePrivateRegionsInTheMirrorLane() throws Exception {
        String html = report(dir, "vm.create td type=tdx vcpus=1 huge_pages=on\n"
                + "slot.add td 0 gpa=0 size=6M flags=gmem backing=2M\n"
                + "attr.set td gpa=0 size=6M private\n"
                + "tdx.finalize td\n"
                + "guest td vcpu=0 accept gpa=2M size=4M level=2M\n"
                + "guest td vcpu=0 convert shared gpa=0x201000 size=4K\n");
        JsonObject td = data(html).getAsJsonArray("vms").get(0).getAsJsonObject();
        List<List<Long>> runs = runs(td);
        // the mirror root (lane 2): 4M-6M one 2M leaf (level 2); 2M-4M split, with 4K leaves (level 1) around the hole
        assertTrue(runs.contains(List.of(2L, 0x400000L, 0x600000L, 2L)), runs.toString());
        assertTrue(runs.contains(List.of(2L, 0x202000L, 0x400000L, 1L)), runs.toString());
    }
}
