package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.Test;

/**
 * The runtime's command line ({@code java -jar app/target/tdplab.jar COMMAND …}, what {@code ./tdplab} runs): help on
 * one command, and what a command says of arguments it takes none of — never Gogo's or Java's own words.
 */
public class CommandLineIT {
    private static final Path APP = Launcher.ROOT.resolve("app/target/tdplab.jar");

    private static Launcher.Result tdplab(String args) throws Exception {
        return Launcher.run(Files.createTempDirectory("cli"), "java -jar " + APP + " " + args, "", 120);
    }

    @Test
    public void helpOnACommandShowsItsUsage() throws Exception {
        Launcher.Result r = tdplab("help run");
        assertEquals(r.err(), 0, r.status());
        assertTrue(r.out(), r.out().startsWith("usage: ./tdplab run [--checked]"));
        r = tdplab("help backends"); // a command without options: its summary
        assertEquals(r.err(), 0, r.status());
        assertTrue(r.out(), r.out().startsWith("./tdplab backends: list every backend"));
        r = tdplab("backends --help");
        assertEquals(r.err(), 0, r.status());
        assertTrue(r.out(), r.out().startsWith("./tdplab backends: list every backend"));
        r = tdplab("help nope");
        assertEquals(2, r.status());
        assertEquals("tdplab help: unknown command 'nope'; try './tdplab help'\n", r.err());
    }

    @Test
    public void argumentsACommandTakesNoneOfAreNamed() throws Exception {
        Launcher.Result r = tdplab("backends extra");
        assertEquals(2, r.status());
        assertTrue(r.err(), r.err().startsWith("tdplab backends: unexpected arguments 'extra' (backends: list every"));
        assertTrue(r.err(), !r.err().contains("coerce"));
        r = tdplab("version extra"); // answered by the command line itself, not a Gogo command
        assertEquals(2, r.status());
        assertTrue(r.err(), r.err().startsWith("tdplab version: unexpected arguments 'extra' (version: print"));
        assertEquals("", r.out());
    }

    /**
     * Gogo's shell prints what a line throws as the Java exception ({@code java.lang.RuntimeException: Command name
     * evaluates to null: $foo}); a line that starts with no tdplab command runs inside {@code mmu:__line}, which says
     * it in words. Assignments, pipes and values still work as Gogo's.
     */
    @Test
    public void theShellAnswersGogosOwnFailuresInWords() throws Exception {
        String lines = "$foo v\n(vms) v\n\"abc\" nosuch\nthrow boom\nx = 41\necho $x\n\"abc\" length\nvms\nexit\n";
        Launcher.Result r = Launcher.run(Files.createTempDirectory("cli"), "java -jar " + APP + " shell", lines, 120);
        assertEquals(r.err(), 0, r.status());
        assertTrue(r.out(), !Launcher.hasJavaExceptionText(r.out() + r.err()));
        assertTrue(r.out(), r.out().contains("'$foo' is not set, so the line names no command to run"));
        assertTrue(r.out(), r.out().contains("'(vms)' is no command: the shell took it for a value and it has no "
                + "method 'v'"));
        assertTrue(r.out(), r.out().contains("'\"abc\"' is no command"));
        assertTrue(r.out(), r.out().contains("throw: boom"));
        assertTrue(r.out(), r.out().contains("tdplab> 41\n"));
        assertTrue(r.out(), r.out().contains("tdplab> 3\n"));
        assertTrue(r.out(), r.out().contains("tdplab> no VMs"));
    }

    /**
     * bnd's launcher gives a bundle installed or updated after start-up {@code launch.startlevel.default}, which it
     * makes the highest run level + 1 (11) unless told: FileInstall sets its own level on install but not on update,
     * so a backend jar copied over the one in load/ stayed Installed above the shell's level 10, its VMs suspended.
     */
    @Test
    public void aBundleUpdatedLaterGetsALevelTheFrameworkStarts() throws Exception {
        java.util.Properties p = new java.util.Properties();
        try (java.util.jar.JarFile jar = new java.util.jar.JarFile(APP.toFile())) {
            p.load(jar.getInputStream(jar.getEntry("launcher.properties")));
        }
        int beginning = Integer.parseInt(p.getProperty("org.osgi.framework.startlevel.beginning"));
        int updated = Integer.parseInt(p.getProperty("launch.startlevel.default"));
        assertTrue("launch.startlevel.default " + updated + " above the beginning level " + beginning,
                updated > 0 && updated <= beginning);
    }

    /**
     * {@code --trace /dev/stdout} and {@code --json /dev/stdout} with stdout redirected to a file: both reports and
     * the run's own lines end up in it. Opening /dev/stdout again (a new write position at 0) overwrote the lines the
     * run printed; replacing the file lost them to the old inode the shell still wrote to.
     */
    @Test
    public void reportsToStandardOutputKeepWhatTheRunPrints() throws Exception {
        Path dir = Files.createTempDirectory("stdout");
        Files.writeString(dir.resolve("s.scn"), "vm.create vm type=default\n");
        Launcher.Result r = Launcher.run(dir, "java -jar " + Launcher.ROOT.resolve("cli/target/tdplab-run.jar")
                + " run --quiet --trace /dev/stdout --json /dev/stdout s.scn > out.txt", "", 120);
        assertEquals(r.err(), 0, r.status());
        String out = Files.readString(dir.resolve("out.txt"));
        assertTrue(out, out.contains("s.scn: 1 statement, 0 expectations, ok\n"));
        assertTrue(out, out.contains("1 passed, 0 failed"));
        assertTrue(out, out.contains("tdplab_vm_op: KVM_CREATE_VM type=default"));
        assertTrue(out, out.contains("\"schema\":\"tdplab-run/1\""));
    }
}
