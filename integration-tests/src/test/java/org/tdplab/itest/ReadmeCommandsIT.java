package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.Test;

/**
 * The README's commands are a test: every {@code ./tdplab …} line of its {@code ```sh} blocks runs, in order, with
 * the real launcher, in a scratch directory that has the repository's {@code scenarios/}; each must end with status
 * 0, or the one its comment names ({@code # exits 1 …}), and print no Java exception text. {@code ./tdplab shell}
 * reads {@code exit} from its input. Not run: {@code mvn verify} (this build itself), {@code ./tdplab bench} (the
 * benchmark suite takes minutes; {@code BenchMainTest} covers its command line) and lines that need another
 * environment ({@code TDPLAB_JAVA_OPTS=-Xmx20g ./tdplab run scenarios/large/…}, a 1 TiB guest).
 */
public class ReadmeCommandsIT {
    private static final Pattern EXITS = Pattern.compile("#.*\\bexits (\\d)");

    @Test
    public void everyCommandOfTheReadmeRuns() throws Exception {
        List<String> lines = commands(Files.readAllLines(Launcher.ROOT.resolve("README.md")));
        assertTrue("the README's commands: " + lines, lines.size() >= 6);
        Path dir = Files.createTempDirectory("readme");
        Files.createSymbolicLink(dir.resolve("scenarios"), Launcher.ROOT.resolve("scenarios"));
        List<String> failures = new ArrayList<>();
        for (String line : lines) {
            Matcher m = EXITS.matcher(line);
            int expected = m.find() ? Integer.parseInt(m.group(1)) : 0;
            String command = Launcher.SCRIPT + line.substring("./tdplab".length()).replaceFirst("\\s+#.*$", "");
            boolean shell = line.matches("\\./tdplab\\s+shell\\b.*");
            Launcher.Result r = Launcher.run(dir, command, shell ? "exit\n" : "", 600);
            if (r.status() != expected)
                failures.add(line + ": status " + r.status() + ", expected " + expected + "\n" + r.out() + r.err());
            else if (Launcher.hasJavaExceptionText(r.out() + r.err()))
                failures.add(line + ": Java exception text\n" + r.out() + r.err());
            else if (shell)
                assertTrue(r.out(), r.out().contains("exit, quit or Ctrl-D leaves"));
        }
        assertEquals("", String.join("\n", failures));
        assertTrue("the report the README asks for", Files.size(dir.resolve("report.html")) > 0);
        assertFalse("nothing of the README's runs is left in the repository",
                Files.exists(Launcher.ROOT.resolve("td.trace")));
    }

    /** The {@code ./tdplab} lines of the {@code ```sh} blocks. */
    static List<String> commands(List<String> readme) {
        List<String> out = new ArrayList<>();
        boolean sh = false;
        for (String l : readme) {
            if (l.startsWith("```")) {
                sh = !sh && l.strip().equals("```sh");
                continue;
            }
            if (sh && l.startsWith("./tdplab") && !l.startsWith("./tdplab bench"))
                out.add(l.strip());
        }
        return out;
    }
}
