package org.tdplab.mmu.scenario.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.imageio.ImageIO;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code --html} page in a real browser: headless Chromium (Debian's {@code chromium}, which {@code .ci/run}
 * installs) loads it without a console message, the charting library draws every chart (its DOM holds their SVG, its
 * screenshot shows them), the tutorial's 4K conversion at 0x3000 is visible before any zoom, a zoom shows its ticks,
 * and a click on it lists its history. Skipped where no Chromium is installed ({@code CHROMIUM} names another
 * binary).
 */
class BrowserTest {
    @TempDir
    Path dir;

    static Path chromium() {
        String env = System.getenv("CHROMIUM");
        for (String c : new String[] { env, "/usr/bin/chromium", "/usr/bin/chromium-browser" })
            if (c != null && !c.isEmpty() && Files.isExecutable(Path.of(c)))
                return Path.of(c);
        return null;
    }

    /** Runs Chromium headless on {@code page} with {@code args}; returns {stdout, stderr}. */
    private String[] chromium(Path page, String... args) throws Exception {
        Path browser = chromium();
        assumeTrue(browser != null, "no chromium installed");
        Path profile = Files.createTempDirectory(dir, "profile");
        List<String> cmd = new ArrayList<>(List.of(browser.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
                "--hide-scrollbars"));
        cmd.addAll(List.of(args));
        cmd.add(page.toUri().toString());
        Path out = dir.resolve("out-" + System.nanoTime()), err = dir.resolve("err-" + System.nanoTime());
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(out.toFile())
                .redirectError(err.toFile()).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish in 90 s");
        }
        String e = Files.readString(err);
        assertEquals(0, p.exitValue(), e);
        return new String[] { Files.readString(out), e };
    }

    private static List<String> console(String stderr) {
        return stderr.lines().filter(l -> l.contains(":CONSOLE")).toList();
    }

    @Test
    void aConsoleErrorIsSeen() throws Exception {
        // the check below is not vacuous: a page that logs an error is caught
        Path bad = Files.writeString(dir.resolve("bad.html"),
                "<!DOCTYPE html><html><body><script>console.error('broken page')</script></body></html>");
        String[] r = chromium(bad, "--dump-dom");
        assertTrue(console(r[1]).stream().anyMatch(l -> l.contains("broken page")), r[1]);
    }

    @Test
    void rendersWithoutConsoleErrorsAndShowsThePictures() throws Exception {
        Path page = Files.writeString(dir.resolve("report.html"), HtmlReportTest.report(dir, HtmlReportTest.SCENARIO));
        String[] dom = chromium(page, "--virtual-time-budget=5000", "--dump-dom");
        assertEquals(List.of(), console(dom[1]), dom[1]);
        Matcher chart = Pattern.compile("<div class=\"chart (\\w+)\"[^>]*><div[^>]*><svg").matcher(dom[0]);
        List<String> drawn = new ArrayList<>();
        while (chart.find())
            drawn.add(chart.group(1));
        assertEquals(List.of("gpa", "levels", "firmware", "gpa", "levels", "timeline"), drawn, dom[0]);

        Path png = dir.resolve("report.png");
        String[] shot = chromium(page, "--virtual-time-budget=5000", "--window-size=1000,2400",
                "--screenshot=" + png);
        assertEquals(List.of(), console(shot[1]), shot[1]);
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(1000, image.getWidth());
        int blue = 0, orange = 0, purple = 0, other = 0;
        for (int y = 0; y < image.getHeight(); y++)
            for (int x = 0; x < image.getWidth(); x++) {
                int rgb = image.getRGB(x, y) & 0xffffff;
                if (near(rgb, 0x4e79a7))
                    blue++;
                else if (near(rgb, 0xf28e2b))
                    orange++;
                else if (near(rgb, 0x9c6ade))
                    purple++;
                else if (rgb != 0xffffff)
                    other++;
            }
        // 4K mappings, occupancy and fault bars, the 2M leaves of the default VM, the TD's private range, and text
        String counts = "blue " + blue + ", orange " + orange + ", purple " + purple + ", other " + other;
        assertTrue(blue > 2000 && orange > 2000 && purple > 2000 && other > 20000, counts);
        Path copy = Path.of("target", "browser-report.png");
        Files.createDirectories(copy.getParent());
        Files.copy(png, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Drives the tutorial's page as a person would, by script: the fill at GPA 0x3000 of the attribute lane before
     * any zoom, a zoom to 0x0–0x8000 (the library's own dataZoom action), then mouse events on the run there.
     */
    private static final String PROBE = """
            <script>
            window.addEventListener('load', function () {
              var c = tdplab.charts['vm-0-slot-0'], out = {};
              function at(gpa) {
                var p = c.convertToPixel({ gridIndex: 0 }, [gpa, 0]), r = c.getDom().getBoundingClientRect();
                return [r.left + p[0], r.top + p[1]];
              }
              function fill(xy) { return document.elementFromPoint(xy[0], xy[1]).getAttribute('fill'); }
              var x = at(0x3000);
              out.before = fill([x[0] + 1.5, x[1]]);
              c.dispatchAction({ type: 'dataZoom', startValue: 0, endValue: 0x8000 });
              setTimeout(function () {
                var xy = at(0x3800), t = document.elementFromPoint(xy[0], xy[1]);
                out.zoomed = t.getAttribute('fill');
                out.width = at(0x4000)[0] - at(0x3000)[0];
                ['mousemove', 'mousedown', 'mouseup', 'click'].forEach(function (n) {
                  t.dispatchEvent(new MouseEvent(n, { bubbles: true, cancelable: true, clientX: xy[0], clientY: xy[1],
                    view: window }));
                });
                setTimeout(function () {
                  out.texts = Array.prototype.map.call(c.getDom().querySelectorAll('text'), function (e) {
                    return e.textContent; });
                  out.history = document.getElementById('vm-0-history').textContent;
                  document.body.setAttribute('data-probe', JSON.stringify(out));
                }, 300);
              }, 300);
            });
            </script>
            """;

    @Test
    void theTutorialsConversionIsVisibleZoomsAndShowsItsHistoryOnClick() throws Exception {
        String html = HtmlReportTest.report(dir, HtmlReportTest.tutorial());
        int end = html.lastIndexOf("</body>");
        Path page = Files.writeString(dir.resolve("tutorial.html"), html.substring(0, end) + PROBE + html.substring(end));
        String[] dom = chromium(page, "--virtual-time-budget=5000", "--window-size=1000,1000", "--dump-dom");
        assertEquals(List.of(), console(dom[1]), dom[1]);
        Matcher m = Pattern.compile("data-probe=\"([^\"]*)\"").matcher(dom[0]);
        assertTrue(m.find(), "the probe ran: " + dom[0].substring(0, Math.min(2000, dom[0].length())));
        JsonObject probe = JsonParser.parseString(m.group(1).replace("&quot;", "\"").replace("&amp;", "&")
                .replace("&lt;", "<").replace("&gt;", ">")).getAsJsonObject();
        // the shared 4K page is drawn over the private 4M before any zoom (a run is never narrower than 3 px)
        assertTrue(shared(probe.get("before").getAsString()), probe.toString());
        assertTrue(shared(probe.get("zoomed").getAsString()), probe.toString());
        assertTrue(probe.get("width").getAsDouble() > 50, "zoomed, 4K is wide: " + probe);
        List<String> texts = probe.getAsJsonArray("texts").asList().stream().map(e -> e.getAsString()).toList();
        assertTrue(texts.containsAll(List.of("0x2000", "0x3000", "0x4000")), "power-of-two GPA ticks: " + texts);
        assertTrue(texts.contains("slot 0: 0x0 – 0x400000 (4M), showing 0x0 – 0x8000"), texts.toString());
        String history = probe.get("history").getAsString();
        assertTrue(history.startsWith("attributes 0x3000 – 0x4000 (4K): "), history);
        assertTrue(history.contains("TDH.MEM.PAGE.REMOVE: TDX_SUCCESS") && history.contains("leaf rwx → none"), history);
    }

    /** The shared colour (#cfe8cf), or its highlighted form, as SVG writes a fill. */
    private static boolean shared(String fill) {
        return fill != null && (fill.equalsIgnoreCase("#cfe8cf") || fill.equals("rgb(207,232,207)")
                || fill.equals("rgb(227,255,227)"));
    }

    private static boolean near(int rgb, int want) {
        for (int shift = 0; shift <= 16; shift += 8)
            if (Math.abs(((rgb >> shift) & 0xff) - ((want >> shift) & 0xff)) > 6)
                return false;
        return true;
    }
}
