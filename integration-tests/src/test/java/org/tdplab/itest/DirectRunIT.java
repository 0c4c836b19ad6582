package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.Test;

/**
 * {@code ./tdplab run} takes a plain JVM ({@code cli/target/tdplab-run.jar}) when {@code load/} holds nothing for the
 * OSGi runtime, and the runtime otherwise: both must give the same results, and a backend dropped into {@code load/}
 * must still be found.
 */
public class DirectRunIT {
    private static final Path APP = Launcher.ROOT.resolve("app/target/tdplab.jar");
    private static final Path DIRECT = Launcher.ROOT.resolve("cli/target/tdplab-run.jar");

    /**
     * Every library scenario, run checked with a JSON report by each path: the same status, the same result of every
     * statement and expectation, the same summary lines. What a multi-threaded workload measures (timings, and the
     * retries and flushes its vCPUs' interleaving causes) differs from run to run on either path and is left out.
     */
    @Test
    public void theLibraryGivesTheSameResultsWithoutTheContainer() throws Exception {
        Path dir = Files.createTempDirectory("direct");
        Files.createSymbolicLink(dir.resolve("scenarios"), Launcher.ROOT.resolve("scenarios"));
        List<String> files;
        try (Stream<Path> s = Files.list(Launcher.ROOT.resolve("scenarios"))) {
            files = s.map(p -> "scenarios/" + p.getFileName()).filter(f -> f.endsWith(".scn")).sorted().toList();
        }
        assertTrue(files.size() > 40);
        String args = "run --checked --quiet --json %s " + String.join(" ", files);
        Launcher.Result container = Launcher.run(dir, "java -jar " + APP + " " + String.format(args, "c.json"), "",
                600);
        Launcher.Result direct = Launcher.run(dir, "java -jar " + DIRECT + " " + String.format(args, "d.json"), "",
                600);
        assertEquals(container.err(), 0, container.status());
        assertEquals(container.status(), direct.status());
        assertEquals(container.err(), direct.err());
        assertEquals(results(container.out()), results(direct.out()));
        assertEquals(deterministic(Files.readString(dir.resolve("c.json"))),
                deterministic(Files.readString(dir.resolve("d.json"))));
    }

    /** The runner's own lines (a workload's report lines start with '#'). */
    private static String results(String out) {
        return out.lines().filter(l -> !l.startsWith("#")).reduce("", (a, b) -> a + b + "\n");
    }

    /** The report without wall-clock times, counters and workload output. */
    private static String deterministic(String json) {
        return json.replaceAll("\"seconds\":\\s*[0-9.eE+-]+", "\"seconds\":0")
                .replaceAll("\"counters\":\\{[^}]*\\}", "\"counters\":{}")
                .replaceAll("\"output\":\\[[^\\]]*\\]", "\"output\":[]");
    }

    /**
     * The script's choice: with {@code load/} empty a {@code template} VM does not exist (the plain JVM has only the
     * shipped backends); with the template's bundle in {@code load/} the same file runs in the container and finds it.
     */
    @Test
    public void aBundleInLoadStillReachesRun() throws Exception {
        Path root = Files.createTempDirectory("root");
        Files.copy(Launcher.SCRIPT, root.resolve("tdplab"));
        root.resolve("tdplab").toFile().setExecutable(true);
        Files.createDirectories(root.resolve("app/target"));
        Files.createDirectories(root.resolve("cli/target"));
        Files.createSymbolicLink(root.resolve("app/target/tdplab.jar"), APP);
        Files.createSymbolicLink(root.resolve("cli/target/tdplab-run.jar"), DIRECT);
        Files.createDirectories(root.resolve("load"));
        Files.writeString(root.resolve("t.scn"), "vm.create t type=template\ncheck t\n");
        String line = "TDPLAB_CDS=0 " + root.resolve("tdplab") + " run --quiet t.scn";

        Launcher.Result without = Launcher.run(root, line, "", 300);
        assertEquals(without.out() + without.err(), 1, without.status());
        assertTrue(without.out(), without.out().contains("ENODEV: no backend serves VM type 'template'"));

        File built = new File(System.getProperty("itest.template.jar"));
        assertTrue("the template bundle was built: " + built, built.isFile());
        Files.copy(built.toPath(), root.resolve("load/backend-template.jar"));
        List<String> out = new ArrayList<>();
        Launcher.Result with = null;
        for (int i = 0; i < 3 && (with == null || with.status() != 0); i++) { // FileInstall installs it at start-up
            with = Launcher.run(root, line, "", 300);
            out.add(with.out() + with.err());
        }
        assertEquals(String.join("\n---\n", out), 0, with.status());
    }
}
