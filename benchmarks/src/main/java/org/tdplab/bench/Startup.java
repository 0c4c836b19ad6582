package org.tdplab.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The start-up of {@code ./tdplab run} on a three-line scenario, wall clock from process start to exit, against a
 * bare JVM (this jar's {@link Bare}, a {@code main} that returns) started the same way.
 */
final class Startup {
    record Result(int runs, double tdplabMillis, double bareMillis) {
    }

    private Startup() {
    }

    /** The repository: {@code -Dtdplab.root}, else the first directory up from here holding {@code tdplab}. */
    static Path findRoot() {
        String prop = System.getProperty("tdplab.root");
        if (prop != null)
            return Path.of(prop);
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent())
            if (Files.isRegularFile(p.resolve("tdplab")) && Files.isDirectory(p.resolve("mmu.tdp")))
                return p;
        return null;
    }

    static Result measure(Path root, int runs) throws IOException, InterruptedException {
        if (root == null || !Files.isRegularFile(root.resolve("tdplab")))
            return null;
        Path scn = Files.createTempFile("tdplab-startup", ".scn");
        try {
            Files.writeString(scn, "# start-up benchmark\nvm.create a type=default\nslot.add a 0 gpa=0 size=2M\n"
                    + "guest a vcpu=0 write gpa=0 size=4K\n");
            // the first run may build the runtime; it is not counted
            wall(root, List.of(root.resolve("tdplab").toString(), "run", "--quiet", scn.toString()));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            String jar = Path.of(Bare.class.getProtectionDomain().getCodeSource().getLocation().getPath()).toString();
            double tdplab = Double.MAX_VALUE, bare = Double.MAX_VALUE;
            for (int i = 0; i < runs; i++) {
                tdplab = Math.min(tdplab, wall(root, List.of(root.resolve("tdplab").toString(), "run", "--quiet",
                        scn.toString())));
                bare = Math.min(bare, wall(root, List.of(java, "-cp", jar, Bare.class.getName())));
            }
            return new Result(runs, tdplab, bare);
        } finally {
            Files.deleteIfExists(scn);
        }
    }

    private static double wall(Path dir, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command)).directory(dir.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().remove("TDPLAB_STDERR_TTY");
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + ": still running after 120 s");
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        if (p.exitValue() != 0)
            throw new IOException(String.join(" ", command) + ": exit status " + p.exitValue());
        return ms;
    }
}
