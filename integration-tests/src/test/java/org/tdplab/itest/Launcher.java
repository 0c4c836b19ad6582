package org.tdplab.itest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** {@code ./tdplab} itself, as a user runs it from the repository: the built jar, no rebuild. */
final class Launcher {
    /** The repository root (the build passes it; else the module directory's parent). */
    static final Path ROOT = Path.of(System.getProperty("tdplab.root", "..")).toAbsolutePath().normalize();
    static final Path SCRIPT = ROOT.resolve("tdplab");

    private Launcher() {
    }

    /** A process builder with the launcher's environment: the jar as built, no colours. */
    static ProcessBuilder builder(Path dir, String... command) {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().put("TDPLAB_NO_BUILD", "1");
        pb.environment().remove("TDPLAB_JAVA_OPTS");
        return pb;
    }

    record Result(int status, String out, String err) {
    }

    /** Runs {@code bash -c line} in {@code dir} with {@code input} on stdin; waits at most {@code seconds}. */
    static Result run(Path dir, String line, String input, long seconds) throws IOException, InterruptedException {
        Process p = builder(dir, "bash", "-c", line).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        Thread o = pump(p.getInputStream(), out), e = pump(p.getErrorStream(), err);
        p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(line + ": still running after " + seconds + " s");
        }
        o.join();
        e.join();
        return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Thread pump(InputStream in, ByteArrayOutputStream to) {
        Thread t = new Thread(() -> {
            try {
                in.transferTo(to);
            } catch (IOException ignored) {
                // the process went away: what it wrote is kept
            }
        }, "pump");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Whether a text carries Java's exception text: a class name of an exception, or a stack frame. */
    static boolean hasJavaExceptionText(String text) {
        return text.matches("(?s).*(\\b[a-z]+(\\.[a-z]+)+\\.[A-Z][A-Za-z]*(Exception|Error)\\b|\\n\\s+at [a-z]+\\.).*");
    }
}
