package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.After;
import org.junit.Assume;
import org.junit.Before;
import org.junit.Test;

/**
 * {@code ./tdplab shell} on a pseudo-terminal, as a person uses it: {@code script} (util-linux) gives it a terminal,
 * the test types into it — Tab, Ctrl-C, Enter — and reads the screen's text. Checks the banner, {@code help},
 * {@code help COMMAND}, completion of commands, options, VM types and VM names, statements, an unknown command,
 * {@code run} without a stray status, failing framework commands ({@code cat}, {@code install}), a script by {@code sh}, a quoted command name, Ctrl-C stopping a long run, {@code vms} saying bugged
 * or dead, {@code exit}, and that nothing printed is Java exception text; and Tab for the verbs of a backend dropped
 * into {@code load/} later.
 */
public class ShellTerminalIT {
    private static final long WAIT_MS = 120_000;

    private Process shell;
    private OutputStream keys;
    private final ByteArrayOutputStream screen = new ByteArrayOutputStream();
    private int mark;

    @Before
    public void needScript() {
        boolean script = Files.isExecutable(Path.of("/usr/bin/script")) || Files.isExecutable(Path.of("/bin/script"));
        if (!script)
            System.err.println("ShellTerminalIT skipped: no 'script' (util-linux) to give the shell a terminal");
        Assume.assumeTrue("util-linux script", script);
    }

    /**
     * {@code ./tdplab shell} of the checkout {@code root} on a terminal of 160 × 50, with SIGINT's default action: a
     * Maven started in the background of a shell without job control inherits SIGINT ignored, and so would the
     * shell's JVM, which then never sees the Ctrl-C the terminal sends (coreutils' {@code env} resets it).
     */
    private void start(Path root) throws IOException, InterruptedException {
        String reset = new ProcessBuilder("env", "--default-signal=INT", "true").start().waitFor() == 0
                ? "env --default-signal=INT " : "";
        ProcessBuilder pb = Launcher.builder(root, "script", "-q", "-e", "-f", "-c",
                "stty cols 160 rows 50; exec " + reset + root.resolve("tdplab") + " shell", "/dev/null");
        pb.environment().put("TERM", "xterm");
        pb.redirectErrorStream(true);
        shell = pb.start();
        keys = shell.getOutputStream();
        Launcher.pump(shell.getInputStream(), screen);
    }

    @After
    public void stop() {
        if (shell != null && shell.isAlive()) {
            shell.descendants().forEach(ProcessHandle::destroyForcibly);
            shell.destroyForcibly();
        }
    }

    @Test
    public void aPersonAtTheShell() throws Exception {
        start(Launcher.ROOT);
        expect("exit, quit or Ctrl-D leaves");
        prompt();

        type("help\r");
        expect("Framework commands");
        assertTrue(since(), since().contains("tdplab commands"));
        assertTrue("tdplab's commands come first", since().contains("  create "));
        prompt();

        type("help cr\t"); // Tab completes the command name
        Thread.sleep(500);
        type("\r");
        expect("example: create vm type=default slot_zap_all=off");
        assertTrue(since(), since().contains("create VM type=T [vcpus=N] [gpaw=48|52]"));
        assertTrue(since(), since().contains("module=1.0|1.5"));
        assertTrue(since(), since().contains("example: create td type=tdx vcpus=2"));
        assertFalse(since(), since().contains("String[]"));
        prompt();

        // Tab completes options, VM types, VM names, values and verbs: the completed lines run
        tab("create td ty", "td", "vcpus=2\r");
        expect("ok");
        prompt();
        tab("slot t", "0 gpa=0 size=4M fl", "gm", "\r");
        expect("ok");
        prompt();
        type("attr td gpa=0 size=4M private\r");
        expect("ok");
        prompt();
        tab("do tdx.fi", " td\r");
        expect("ok");
        prompt();
        type("vms\r");
        expect("type=tdx vcpus=2 state=running");
        prompt();
        tab("vm.cr", "vm ty", "def", "\r"); // a statement as a scenario file has it: its name and options complete
        expect("ok");
        prompt();
        type("vms\r");
        expect("type=default");
        prompt();
        type("\"vm.create\" quoted type=sw_protected\r"); // a quoted command name runs it, as in a POSIX shell
        expect("ok");
        prompt();
        type("'vms'\r");
        expect("type=sw_protected");
        prompt();

        type("quitt\r");
        expect("did you mean 'quit'?");
        prompt();

        type("cat /nonexistent-tdplab\r"); // Gogo's own command: its failure in words, no exception class
        expect("No such file or directory");
        assertTrue(since(), since().contains("cat: /nonexistent-tdplab"));
        prompt();
        type("ls /nonexistent-tdplab\r"); // Gogo's ls takes it for a pattern and would print nothing
        expect("ls: /nonexistent-tdplab (No such file or directory)");
        prompt();
        Path globs = Files.createTempDirectory("tdplab-it");
        Files.writeString(globs.resolve("one.log"), "x\n");
        Files.writeString(globs.resolve("two.log"), "x\n");
        type("ls " + globs + "/*.log\r"); // an absolute glob's matches, each its own word (Gogo passed one list)
        expect("two.log");
        assertTrue(since(), since().contains("one.log"));
        prompt();
        Files.delete(globs.resolve("one.log"));
        Files.delete(globs.resolve("two.log"));
        Files.delete(globs);
        type("install nope:x\r"); // a framework command whose answer is an exception's text
        expect("Unknown protocol: nope");
        prompt();
        Path script = Files.createTempFile("tdplab-it", ".gosh");
        Files.writeString(script, "echo \"script says $1\"\n");
        type("sh " + script + " hello\r"); // Gogo's sh runs the script; its profile would need Gogo's line reader
        expect("script says hello");
        assertFalse(since(), since().contains("reader is null"));
        prompt();
        type("sh\r"); // no nested interactive shell: said in words
        expect("this shell is interactive already");
        prompt();
        Files.delete(script);

        type("run --quiet scenarios/tutorial-td.scn\r");
        expect("1 passed, 0 failed");
        prompt();
        assertFalse("no status after run: " + since(), since().matches("(?s).*\\n\\s*0\\s*\\n.*"));

        Path longScenario = longScenario();
        type("run " + longScenario + "\r");
        expect(" of 8002"); // the progress line: the file is running (not a fixed wait, which a loaded machine outlasts)
        type("\u0003");
        expect("interrupted");
        prompt();

        type("access td vcpu=0 read gpa=2M private\r");
        expect("EIO");
        prompt();
        type("vms\r");
        expect("state=dead");
        prompt();

        type("exit\r");
        assertTrue("the shell left", shell.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, shell.exitValue());
        String all = text(0);
        // Gogo stopping the framework itself raced the launcher's exit status 117 against the shell's 0
        assertFalse("Gogo stopped the framework, not ./tdplab shell:\n" + all, all.contains("stopping framework"));
        assertFalse("Java exception text on the terminal:\n" + all, Launcher.hasJavaExceptionText(all));
    }

    /**
     * A backend whose jar is dropped into {@code load/} while the shell runs: once a command ran after it came, Tab
     * completes its verb's options as it does the shipped backends' (a checkout of its own: the script and the built
     * runtime, its {@code load/} empty at the start).
     */
    @Test
    public void aBackendThatCameLaterCompletesToo() throws Exception {
        Path root = Files.createTempDirectory("root");
        Files.copy(Launcher.SCRIPT, root.resolve("tdplab"));
        assertTrue(root.resolve("tdplab").toFile().setExecutable(true));
        Files.createDirectories(root.resolve("app/target"));
        Path runtime = Launcher.ROOT.resolve("app/target/tdplab.jar");
        Files.createSymbolicLink(root.resolve("app/target/tdplab.jar"), runtime);
        Files.createDirectories(root.resolve("load"));
        start(root);
        expect("exit, quit or Ctrl-D leaves");
        prompt();

        Path built = Path.of(System.getProperty("itest.template.jar"));
        assertTrue("the template bundle was built: " + built, Files.isRegularFile(built));
        Files.copy(built, root.resolve("load/backend-template.jar"));
        for (int i = 0; !since().contains("template "); i++) { // FileInstall looks at load/ every few seconds
            assertTrue("the template backend never came: " + since(), i < 60);
            Thread.sleep(1000);
            type("backends\r");
            prompt();
        }

        type("create tv type=template\r");
        expect("ok");
        prompt();
        tab("template.limit tv le", "2M\r"); // le<Tab> is level=
        expect("ok");
        assertTrue(since(), since().contains("level=2M"));
        prompt();
        type("check tv\r");
        expect("invariants hold");
        prompt();

        type("exit\r");
        assertTrue("the shell left", shell.waitFor(60, TimeUnit.SECONDS));
        assertFalse("Java exception text on the terminal:\n" + text(0), Launcher.hasJavaExceptionText(text(0)));
    }

    /** A scenario long enough that Ctrl-C finds it running. */
    private static Path longScenario() throws IOException {
        StringBuilder sb = new StringBuilder("vm.create vm type=default\nslot.add vm 0 gpa=0 size=64M\n");
        for (int i = 0; i < 4000; i++)
            sb.append("guest vm vcpu=0 write gpa=0 size=64M value=").append(i + 1).append("\nzap vm gpa=0 size=64M\n");
        Path f = Files.createTempFile("long", ".scn");
        return Files.writeString(f, sb);
    }

    /** Types each part followed by Tab, the last one as it is; waits for each completion to be drawn. */
    private void tab(String... parts) throws IOException, InterruptedException {
        for (int i = 0; i < parts.length; i++) {
            type(i < parts.length - 1 ? parts[i] + "\t" : parts[i]);
            Thread.sleep(500);
        }
    }

    private void prompt() throws InterruptedException {
        expect("tdplab>");
    }

    private void type(String s) throws IOException {
        keys.write(s.getBytes(StandardCharsets.UTF_8));
        keys.flush();
    }

    /** Waits until the screen shows {@code text} after the mark, then moves the mark past it. */
    private void expect(String text) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_MS * 1_000_000L;
        while (System.nanoTime() < deadline) {
            String s = text(mark);
            int at = s.indexOf(text);
            if (at >= 0) {
                last = s.substring(0, at + text.length());
                mark += at + text.length();
                return;
            }
            Thread.sleep(50);
        }
        String raw;
        synchronized (screen) {
            raw = screen.toString(StandardCharsets.UTF_8);
        }
        throw new AssertionError("the terminal never showed '" + text + "'; it shows:\n" + text(0) + "\nraw:\n"
                + raw.replace("\u001B", "^[").replace("\r", "^M").replace("\u0008", "^H").replace("\u0007", "^G"));
    }

    private String last = "";

    /** What the screen showed from the mark before the last {@link #expect} up to what it waited for. */
    private String since() {
        return last;
    }

    /** The screen's text from {@code from} on (characters of the text with escape sequences removed). */
    private String text(int from) {
        String s;
        synchronized (screen) {
            s = screen.toString(StandardCharsets.UTF_8);
        }
        s = s.replaceAll("\u001B\\[[0-9;?]*[A-Za-z]|\u001B[=>]|\r|\u0007|\u0008", "");
        return from >= s.length() ? "" : s.substring(from);
    }
}
