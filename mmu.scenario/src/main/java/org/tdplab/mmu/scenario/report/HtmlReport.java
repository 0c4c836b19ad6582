package org.tdplab.mmu.scenario.report;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

import org.tdplab.mmu.scenario.run.Failure;
import org.tdplab.mmu.scenario.run.FileResult;
import org.tdplab.mmu.scenario.run.Timeline;
import org.tdplab.mmu.scenario.run.VmPicture;

/**
 * {@code ./tdplab run --html FILE}: one self-contained page (nothing fetched): per file its statements and results
 * (failures highlighted) and per VM its GPA space — one chart per memslot with a lane for the private/shared
 * attributes and one per root, drawn from the exact runs of each root's mappings, with GPA ticks, zoom, and each
 * run's history of SPTE changes and firmware calls on click — entries per level, firmware calls by kind (failed
 * calls red), and each workload's fault/zap timeline. The charts are Apache ECharts, inlined from the webjar the
 * build unpacks into this bundle; {@code report.js} only hands it the data.
 */
public final class HtmlReport {
    private static final String RESOURCES = "/org/tdplab/mmu/scenario/report/";

    private HtmlReport() {
    }

    public static String render(List<FileResult> results, boolean checked, int status) {
        return render(results, List.of(), checked, status);
    }

    /** The page of a run; {@code unreadable} says why nothing ran (status 2), one line each. */
    public static String render(List<FileResult> results, List<String> unreadable, boolean checked, int status) {
        StringBuilder h = new StringBuilder(1 << 20);
        long passed = results.stream().filter(FileResult::ok).count();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>tdplab run</title>\n<style>")
                .append(resource("report.css")).append("</style></head><body>\n");
        h.append("<h1>tdplab run: ").append(passed).append(" passed, ").append(results.size() - passed)
                .append(" failed</h1>\n<p>status ").append(status).append(checked ? ", checked" : "").append("</p>\n");
        if (!unreadable.isEmpty()) {
            h.append("<ul class=\"unreadable\">\n");
            unreadable.forEach(line -> h.append("<li>").append(esc(line)).append("</li>\n"));
            h.append("</ul>\n");
        }
        PageData data = new PageData();
        for (FileResult r : results)
            file(h, r, data);
        h.append("<script type=\"application/json\" id=\"tdplab-data\">").append(data.json()).append("</script>\n");
        h.append("<script>").append(resource("echarts/echarts.min.js")).append("</script>\n");
        h.append("<script>").append(resource("report.js")).append("</script>\n");
        return h.append("</body></html>\n").toString();
    }

    /** A text resource of this bundle (the page's style, script and the charting library). */
    static String resource(String name) {
        try (InputStream in = HtmlReport.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null)
                throw new IllegalStateException("the bundle lacks " + name + ": rebuild it");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void file(StringBuilder h, FileResult r, PageData data) {
        h.append("<section class=\"file\"><h2>").append(esc(r.file())).append(" — <span class=\"")
                .append(r.ok() ? "ok\">ok" : "failed\">" + r.failures().size() + " failed").append("</span></h2>\n");
        h.append("<p>").append(r.statements()).append(" statements, ").append(r.expectations())
                .append(" expectations, ")
                .append(String.format(Locale.ROOT, "%.3f s", r.nanos() / 1e9)).append("</p>\n");
        for (Failure f : r.failures())
            h.append("<pre class=\"fail\">").append(esc(f.render())).append("</pre>\n");
        h.append("<details").append(r.ok() ? "" : " open=\"open\"").append("><summary>statements</summary>")
                .append("<table class=\"steps\">\n");
        int e = 0;
        List<FileResult.ExpectRecord> expects = r.expects();
        for (FileResult.StepRecord s : r.steps()) {
            while (e < expects.size() && expects.get(e).line() < s.line())
                expect(h, expects.get(e++));
            boolean bad = !s.result().equals("ok") && failed(r, s.line());
            h.append("<tr class=\"").append(bad ? "bad" : "held").append("\"><td>").append(s.line()).append("</td><td>")
                    .append(esc(s.source())).append("</td><td class=\"r\">").append(esc(s.result()))
                    .append(s.detail() == null ? "" : ": " + esc(s.detail())).append("</td></tr>\n");
            for (String o : s.output())
                h.append("<tr class=\"held\"><td></td><td colspan=\"2\"># ").append(esc(o)).append("</td></tr>\n");
        }
        while (e < expects.size())
            expect(h, expects.get(e++));
        h.append("</table></details>\n");
        for (VmPicture p : r.pictures())
            vm(h, p, data);
        for (Timeline t : r.timelines())
            timeline(h, t, data);
        h.append("</section>\n");
    }

    private static boolean failed(FileResult r, int line) {
        return r.failures().stream().anyMatch(f -> f.line() == line);
    }

    private static void expect(StringBuilder h, FileResult.ExpectRecord x) {
        h.append("<tr class=\"").append(x.held() ? "held" : "bad").append("\"><td>").append(x.line())
                .append("</td><td>")
                .append(esc(x.source())).append("</td><td class=\"r\">")
                .append(x.held() ? "held" : "found " + esc(x.found())).append("</td></tr>\n");
    }

    /** A VM's charts: the containers and notes here, the data in {@link PageData}, the drawing in report.js. */
    private static void vm(StringBuilder h, VmPicture p, PageData data) {
        String id = data.vm(p);
        h.append("<div class=\"vm\" id=\"").append(id).append("\"><h3>VM ").append(esc(p.name())).append(" (")
                .append(esc(p.type())).append(")</h3>\n");
        h.append("<p class=\"legend\">GPA space per memslot: the attributes lane (shared, private) and a lane per "
                + "root, coloured by the level of the leaf mapping each run (unmapped, 4K, 2M, 1G; mixed where runs "
                + "too short to draw were merged). Drag or scroll to zoom; click a run for its history.</p>\n");
        List<String> notes = PageData.notes(p);
        if (!notes.isEmpty()) {
            h.append("<ul class=\"notes\">");
            notes.forEach(n -> h.append("<li>").append(esc(n)).append("</li>"));
            h.append("</ul>\n");
        }
        if (p.slots().isEmpty())
            h.append("<p>no memslots</p>\n");
        for (int i = 0; i < p.slots().size(); i++)
            h.append("<div class=\"chart gpa\" id=\"").append(id).append("-slot-").append(i).append("\"></div>\n");
        h.append("<div class=\"history\" id=\"").append(id).append("-history\"><p>Click a run above for its SPTE "
                + "changes and firmware calls.</p></div>\n");
        h.append("<div class=\"chart levels\" id=\"").append(id).append("-levels\"></div>\n");
        if (p.counters().entrySet().stream().anyMatch(c -> p.firmwareCalls().contains(c.getKey()) && c.getValue() > 0))
            h.append("<div class=\"chart firmware\" id=\"").append(id).append("-firmware\"></div>\n");
        else
            h.append("<p>no firmware calls</p>\n");
        h.append("</div>\n");
    }

    /** A workload's faults (up) and zaps (down) over time. */
    private static void timeline(StringBuilder h, Timeline t, PageData data) {
        long faults = 0, zaps = 0;
        for (long v : t.faults())
            faults += v;
        for (long v : t.zaps())
            zaps += v;
        h.append("<div class=\"workload\"><h3>line ").append(t.line()).append(": ").append(esc(t.source()))
                .append("</h3><p>faults (up) and zaps (down) per ")
                .append(String.format(Locale.ROOT, "%.2f ms", t.binNanos() / 1e6)).append(": faults: ").append(faults)
                .append(", zaps: ").append(zaps).append("</p>\n<div class=\"chart timeline\" id=\"")
                .append(data.timeline(t)).append("\"></div></div>\n");
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    static String size(long v) {
        if (v >= 1L << 30 && v % (1L << 30) == 0)
            return (v >> 30) + "G";
        if (v >= 1L << 20 && v % (1L << 20) == 0)
            return (v >> 20) + "M";
        if (v >= 1L << 10 && v % (1L << 10) == 0)
            return (v >> 10) + "K";
        return Long.toString(v);
    }

    /** Text for HTML and SVG: {@code & < > " '} escaped. */
    public static String esc(String s) {
        if (s == null)
            return "";
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
            case '&' -> b.append("&amp;");
            case '<' -> b.append("&lt;");
            case '>' -> b.append("&gt;");
            case '"' -> b.append("&quot;");
            case '\'' -> b.append("&#39;");
            default -> b.append(c < 0x20 && c != '\n' && c != '\t' ? ' ' : c);
            }
        }
        return b.toString();
    }
}
