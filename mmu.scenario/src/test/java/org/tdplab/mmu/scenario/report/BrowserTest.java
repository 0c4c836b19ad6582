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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code --html} page in a real browser: headless Chromium (Debian's {@code chromium}, which {@code .ci/run}
 * installs) loads it without a console message, its DOM holds the pictures, and its screenshot shows them. Skipped
 * where no Chromium is installed ({@code CHROMIUM} names another binary).
 */
class BrowserTest {
    private static boolean toldWhy;

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
        if (browser == null && !toldWhy) {
            toldWhy = true; // a skip is said out loud, once: a quiet skip would look like a pass
            System.err.println("BrowserTest SKIPPED: no Chromium at /usr/bin/chromium, /usr/bin/chromium-browser or "
                    + "$CHROMIUM, so the --html report is not checked in a browser (.ci/run installs Debian's "
                    + "chromium; apt-get install chromium)");
        }
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
        String[] dom = chromium(page, "--dump-dom");
        assertEquals(List.of(), console(dom[1]), dom[1]);
        Matcher svg = Pattern.compile("<svg class=\"(\\w+)\"").matcher(dom[0]);
        List<String> classes = new ArrayList<>();
        while (svg.find())
            classes.add(svg.group(1));
        assertEquals(List.of("gpa", "levels", "firmware", "gpa", "levels", "timeline"), classes, dom[0]);
        assertTrue(dom[0].contains("<rect"), dom[0]);

        Path png = dir.resolve("report.png");
        String[] shot = chromium(page, "--window-size=1000,1800", "--screenshot=" + png);
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
        // 4K mappings and fault bars, the 2M leaves of the default VM, the TD's private range, and text
        String counts = "blue " + blue + ", orange " + orange + ", purple " + purple + ", other " + other;
        assertTrue(blue > 2000 && orange > 2000 && purple > 2000 && other > 20000, counts);
        Path copy = Path.of("target", "browser-report.png");
        Files.createDirectories(copy.getParent());
        Files.copy(png, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static boolean near(int rgb, int want) {
        for (int shift = 0; shift <= 16; shift += 8)
            if (Math.abs(((rgb >> shift) & 0xff) - ((want >> shift) & 0xff)) > 6)
                return false;
        return true;
    }
}
