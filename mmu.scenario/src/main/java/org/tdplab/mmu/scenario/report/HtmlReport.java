package org.tdplab.mmu.scenario.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.tdplab.mmu.scenario.run.Failure;
import org.tdplab.mmu.scenario.run.FileResult;
import org.tdplab.mmu.scenario.run.Timeline;
import org.tdplab.mmu.scenario.run.VmPicture;

/**
 * {@code ./tdplab run --html FILE}: one self-contained page (inline CSS and SVG, no script, nothing fetched): per
 * file its statements and results (failures highlighted) and per VM its GPA space (memslots, private/shared ranges,
 * the level mapping each sampled region in each root), entries per level, firmware calls by kind, and each
 * workload's fault/zap timeline.
 */
public final class HtmlReport {
    static final String[] LEVEL_COLORS = { "#e8e8e8", "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f" };
    static final String[] LEVEL_NAMES = { "unmapped", "4K", "2M", "1G", "512G", "256T" };
    private static final int W = 720;

    private HtmlReport() {
    }

    public static String render(List<FileResult> results, boolean checked, int status) {
        StringBuilder h = new StringBuilder(1 << 16);
        long passed = results.stream().filter(FileResult::ok).count();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>tdplab run</title>\n<style>")
                .append("body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}")
                .append("h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}")
                .append("h3{font-size:1.05em}table.steps{border-collapse:collapse;font:12px monospace}")
                .append("table.steps td{padding:1px 6px;vertical-align:top;border-bottom:1px solid #eee}")
                .append("tr.bad{background:#fde2e2}tr.held td.r{color:#2a7}tr.bad td.r{color:#c00;font-weight:bold}")
                .append(".ok{color:#2a7}.failed{color:#c00;font-weight:bold}pre.fail{background:#fde2e2;padding:6px}")
                .append("details{margin:.5em 0}svg{display:block;margin:.4em 0;background:#fafafa;border:1px solid #ddd}")
                .append("svg text{font:11px sans-serif;fill:#222}.vm{margin-left:1em}")
                .append("</style></head><body>\n");
        h.append("<h1>tdplab run: ").append(passed).append(" passed, ").append(results.size() - passed)
                .append(" failed</h1>\n<p>status ").append(status).append(checked ? ", checked" : "").append("</p>\n");
        for (FileResult r : results)
            file(h, r);
        return h.append("</body></html>\n").toString();
    }

    private static void file(StringBuilder h, FileResult r) {
        h.append("<section class=\"file\"><h2>").append(esc(r.file())).append(" — <span class=\"")
                .append(r.ok() ? "ok\">ok" : "failed\">" + r.failures().size() + " failed").append("</span></h2>\n");
        h.append("<p>").append(r.statements()).append(" statements, ").append(r.expectations()).append(" expectations, ")
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
            vm(h, p);
        for (Timeline t : r.timelines())
            timeline(h, t);
        h.append("</section>\n");
    }

    private static boolean failed(FileResult r, int line) {
        return r.failures().stream().anyMatch(f -> f.line() == line);
    }

    private static void expect(StringBuilder h, FileResult.ExpectRecord x) {
        h.append("<tr class=\"").append(x.held() ? "held" : "bad").append("\"><td>").append(x.line()).append("</td><td>")
                .append(esc(x.source())).append("</td><td class=\"r\">")
                .append(x.held() ? "held" : "found " + esc(x.found())).append("</td></tr>\n");
    }

    private static void vm(StringBuilder h, VmPicture p) {
        h.append("<div class=\"vm\"><h3>VM ").append(esc(p.name())).append(" (").append(esc(p.type()))
                .append(")</h3>\n");
        gpaSpace(h, p);
        levels(h, p);
        firmware(h, p);
        h.append("</div>\n");
    }

    /** One row group per memslot: the private/shared lane, then one lane per root coloured by the mapped level. */
    static void gpaSpace(StringBuilder h, VmPicture p) {
        int lanes = 1 + p.roots().size(), laneH = 16, groupH = 18 + lanes * (laneH + 2) + 8, x0 = 90;
        int height = 30 + Math.max(1, p.slots().size()) * groupH + 24;
        h.append("<svg class=\"gpa\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(W).append("\" height=\"")
                .append(height).append("\" role=\"img\"><title>GPA space of ").append(esc(p.name())).append("</title>");
        text(h, 6, 16, "GPA space: memslots, private/shared, mapped level per root (sampled)");
        if (p.slots().isEmpty())
            text(h, 6, 40, "no memslots");
        int y = 30;
        int w = W - x0 - 10;
        for (VmPicture.Slot s : p.slots()) {
            text(h, 6, y + 12, "slot " + s.id() + ": " + hex(s.gpa()) + " – " + hex(s.gpa() + s.size()) + " ("
                    + size(s.size()) + ")");
            int ly = y + 18;
            text(h, 6, ly + 12, "attributes");
            rect(h, x0, ly, w, laneH, "#cfe8cf", "shared");
            for (VmPicture.Attr a : p.attrs()) {
                long from = Math.max(a.gpa(), s.gpa()), to = Math.min(a.gpa() + a.size(), s.gpa() + s.size());
                if (from < to)
                    rect(h, x0 + px(from - s.gpa(), s.size(), w), ly, Math.max(1, px(to - s.gpa(), s.size(), w)
                            - px(from - s.gpa(), s.size(), w)), laneH, a.isPrivate() ? "#9c6ade" : "#cfe8cf",
                            (a.isPrivate() ? "private " : "shared ") + hex(from) + "–" + hex(to));
            }
            for (String root : p.roots()) {
                ly += laneH + 2;
                text(h, 6, ly + 12, root + " root");
                for (VmPicture.Region g : p.regions().get(root)) {
                    long from = Math.max(g.gpa(), s.gpa()), to = Math.min(g.gpa() + g.size(), s.gpa() + s.size());
                    if (from >= to)
                        continue;
                    int a = px(from - s.gpa(), s.size(), w), b = px(to - s.gpa(), s.size(), w);
                    rect(h, x0 + a, ly, Math.max(1, b - a), laneH, LEVEL_COLORS[Math.min(g.level(), 5)],
                            LEVEL_NAMES[Math.min(g.level(), 5)] + " " + hex(from) + "–" + hex(to));
                }
            }
            y += groupH;
        }
        int lx = 6;
        String[][] legend = { { "#cfe8cf", "shared" }, { "#9c6ade", "private" }, { LEVEL_COLORS[0], "unmapped" },
                { LEVEL_COLORS[1], "4K" }, { LEVEL_COLORS[2], "2M" }, { LEVEL_COLORS[3], "1G" } };
        for (String[] l : legend) {
            rect(h, lx, y + 2, 12, 12, l[0], l[1]);
            text(h, lx + 16, y + 12, l[1]);
            lx += 90;
        }
        h.append("</svg>\n");
    }

    /** Present entries per level seen by the walks, per root, and leaves per size from the counters. */
    static void levels(StringBuilder h, VmPicture p) {
        List<String> labels = new ArrayList<>();
        List<Long> values = new ArrayList<>();
        for (String root : p.roots()) {
            long[] n = p.entriesPerLevel().get(root);
            for (int l = n.length - 1; l >= 1; l--)
                if (n[l] > 0 || l <= 4) {
                    labels.add(root + " L" + l);
                    values.add(n[l]);
                }
        }
        for (String k : new String[] { "pages_4k", "pages_2m", "pages_1g" })
            if (p.counters().containsKey(k)) {
                labels.add(k);
                values.add(p.counters().get(k));
            }
        bars(h, "levels", "Table occupancy: present entries per level in the sampled walks; leaves by size (counters)",
                labels, values, "#4e79a7");
    }

    /** The counters named as firmware operations (upper case, as the hardware names them). */
    static void firmware(StringBuilder h, VmPicture p) {
        List<String> labels = new ArrayList<>();
        List<Long> values = new ArrayList<>();
        for (Map.Entry<String, Long> c : p.counters().entrySet())
            if (isFirmware(c.getKey()) && c.getValue() > 0) {
                labels.add(c.getKey());
                values.add(c.getValue());
            }
        if (labels.isEmpty()) {
            h.append("<p>no firmware calls</p>\n");
            return;
        }
        bars(h, "firmware", "Firmware calls by kind", labels, values, "#e15759");
    }

    static boolean isFirmware(String counter) {
        return !counter.isEmpty() && Character.isUpperCase(counter.charAt(0)) && counter.equals(
                counter.toUpperCase(Locale.ROOT));
    }

    private static void bars(StringBuilder h, String cls, String title, List<String> labels, List<Long> values,
            String color) {
        int barH = 16, x0 = 200, height = 28 + labels.size() * (barH + 4) + 6;
        long max = Math.max(1, values.stream().mapToLong(Long::longValue).max().orElse(1));
        h.append("<svg class=\"").append(cls).append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(W)
                .append("\" height=\"").append(height).append("\" role=\"img\"><title>").append(esc(title))
                .append("</title>");
        text(h, 6, 16, title);
        int y = 26;
        for (int i = 0; i < labels.size(); i++) {
            text(h, 6, y + 12, labels.get(i));
            int len = (int) Math.round((W - x0 - 80) * (double) values.get(i) / max);
            rect(h, x0, y, Math.max(values.get(i) > 0 ? 1 : 0, len), barH, color, labels.get(i) + ": " + values.get(i));
            text(h, x0 + len + 4, y + 12, Long.toString(values.get(i)));
            y += barH + 4;
        }
        h.append("</svg>\n");
    }

    /** Faults (up) and zaps (down) per time bin of one workload. */
    static void timeline(StringBuilder h, Timeline t) {
        int n = t.faults().length, x0 = 50, w = W - x0 - 10, half = 70, mid = 30 + half;
        long max = 1;
        for (int i = 0; i < n; i++)
            max = Math.max(max, Math.max(t.faults()[i], t.zaps()[i]));
        h.append("<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(W)
                .append("\" height=\"").append(mid + half + 36).append("\" role=\"img\"><title>timeline</title>");
        text(h, 6, 16, "line " + t.line() + ": " + t.source() + " — faults (up) and zaps (down) per "
                + String.format(Locale.ROOT, "%.2f ms", t.binNanos() / 1e6));
        double bw = (double) w / Math.max(1, n);
        for (int i = 0; i < n; i++) {
            int x = x0 + (int) Math.round(i * bw), bwi = Math.max(1, (int) Math.round(bw) - 1);
            int fh = (int) Math.round(half * (double) t.faults()[i] / max);
            int zh = (int) Math.round(half * (double) t.zaps()[i] / max);
            if (fh > 0)
                rect(h, x, mid - fh, bwi, fh, "#4e79a7", t.faults()[i] + " faults");
            if (zh > 0)
                rect(h, x, mid, bwi, zh, "#e15759", t.zaps()[i] + " zaps");
        }
        h.append("<line x1=\"").append(x0).append("\" y1=\"").append(mid).append("\" x2=\"").append(x0 + w)
                .append("\" y2=\"").append(mid).append("\" stroke=\"#888\"/>");
        text(h, 6, mid - half + 10, Long.toString(max));
        text(h, 6, mid + 4, "0");
        text(h, x0, mid + half + 16, "0 ms");
        text(h, x0 + w - 70, mid + half + 16, String.format(Locale.ROOT, "%.1f ms", n * t.binNanos() / 1e6));
        text(h, x0 + 200, mid + half + 30, "faults: " + sum(t.faults()) + ", zaps: " + sum(t.zaps()));
        h.append("</svg>\n");
    }

    private static long sum(long[] a) {
        long s = 0;
        for (long v : a)
            s += v;
        return s;
    }

    private static int px(long offset, long total, int w) {
        return (int) Math.round((double) offset / total * w);
    }

    private static void rect(StringBuilder h, int x, int y, int w, int ht, String fill, String tip) {
        h.append("<rect x=\"").append(x).append("\" y=\"").append(y).append("\" width=\"").append(w)
                .append("\" height=\"").append(ht).append("\" fill=\"").append(fill).append("\"><title>")
                .append(esc(tip)).append("</title></rect>");
    }

    private static void text(StringBuilder h, int x, int y, String s) {
        h.append("<text x=\"").append(x).append("\" y=\"").append(y).append("\">").append(esc(s)).append("</text>");
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
