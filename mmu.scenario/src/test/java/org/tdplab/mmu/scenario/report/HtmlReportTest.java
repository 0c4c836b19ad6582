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
import java.util.List;

import javax.xml.parsers.DocumentBuilderFactory;

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

/** {@code --html}: a well-formed, self-contained page with the pictures, and every text escaped. */
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

    static Document parse(String html) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(false);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(html.replaceFirst("<!DOCTYPE html>", "")
                .getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void wellFormedWithThePictures() throws Exception {
        String html = report(dir, SCENARIO);
        Document d = parse(html);
        NodeList svgs = d.getElementsByTagName("svg");
        List<String> classes = new java.util.ArrayList<>();
        for (int i = 0; i < svgs.getLength(); i++)
            classes.add(((Element) svgs.item(i)).getAttribute("class"));
        assertEquals(List.of("gpa", "levels", "firmware", "gpa", "levels", "timeline"), classes, html);
        // the TD's picture: a mirror root with 4K leaves where it accepted, private attributes
        assertTrue(html.contains("mirror root"), html);
        assertTrue(html.contains("<title>private 0x0–0x200000</title>"), html);
        assertTrue(html.contains("<title>4K 0x0–"), html);
        assertTrue(html.contains("TDH.MEM.PAGE.AUG: "), html);
        // the workload's faults on the timeline
        assertTrue(html.matches("(?s).*faults: [1-9][0-9]*, zaps: [0-9]+.*"), html);
        // self-contained: nothing fetched, no script
        assertFalse(html.contains("<script"), "the page runs no script");
        assertFalse(html.contains("src=") || html.contains("href=") || html.contains("url("), html);
        // the failed expectation highlighted
        assertTrue(html.contains("<tr class=\"bad\"><td>13</td><td>expect stat vm pf_taken = 12345</td>"), html);
        assertTrue(html.contains("s&lt;&amp;&gt;.scn"), html);
        assertFalse(html.contains("s<&>.scn"), html);
        assertTrue(html.contains("1 failed"), html);
    }

    @Test
    void escapesText() {
        assertEquals("a&lt;b&gt;&amp;&quot;&#39;", HtmlReport.esc("a<b>&\"'"));
        assertEquals("", HtmlReport.esc(null));
        assertEquals("x y", HtmlReport.esc("x\u0001y"));
    }

    @Test
    void firmwareCountersAreTheUpperCaseOnes() {
        assertTrue(HtmlReport.isFirmware("TDH.MEM.PAGE.AUG"));
        assertTrue(HtmlReport.isFirmware("PVALIDATE"));
        assertFalse(HtmlReport.isFirmware("pf_taken"));
        assertFalse(HtmlReport.isFirmware("pages_4k"));
    }

    @Test
    void anEmptyRunIsAPageToo() throws Exception {
        Document d = parse(HtmlReport.render(List.of(), false, 2));
        assertEquals(0, d.getElementsByTagName("svg").getLength());
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
        assertTrue(html.contains("<title>private 0x0–0x1000</title>"), html);
        assertTrue(html.contains("<title>private 0x2000–0x200000</title>"), html);
    }
}
