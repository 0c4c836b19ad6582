package org.tdplab.mmu.scenario.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.run.Session;
import org.tdplab.mmu.scenario.shell.ShellDriver;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * The examples of the README and of {@code docs/} run: every {@code ```scn} block is a scenario that must pass in
 * checked mode, every {@code ```session} block is a transcript — {@code > STATEMENT} lines run one at a time in
 * one session, each followed by the answer it must give ({@code …} stands for any text) — and every
 * {@code ```shell} block is a transcript of shell commands ({@code tdplab> COMMAND}). With
 * {@code -Dtdplab.docs.update=true} the transcripts' answers are rewritten from what the model says now.
 */
class DocsExamplesTest {
    static final String SCN = "scn", SESSION = "session", SHELL = "shell", PROMPT = "> ", SHELL_PROMPT = "tdplab> ",
            ANY = "…";
    private static final boolean UPDATE = Boolean.getBoolean("tdplab.docs.update");

    @TempDir
    Path tmp;

    static VmManager manager() {
        return Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(), new TdxBackend(),
                new SnpBackend());
    }

    @Test
    void everyScenarioBlockPasses() throws IOException {
        List<String> failures = new ArrayList<>();
        int n = 0;
        for (Path doc : Docs.all())
            for (Markdown.Block b : Markdown.blocks(doc, SCN)) {
                n++;
                Path file = Files.writeString(tmp.resolve("block.scn"), String.join("\n", b.lines()) + "\n");
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                int status = new Runner(manager(), o, o).run(List.of(file.toString()), true);
                if (status != Runner.OK)
                    failures.add(b.where() + ": status " + status + "\n" + out.toString(StandardCharsets.UTF_8)
                            .replace(file.toString(), b.where()));
            }
        assertTrue(n >= 3, "scn blocks found: " + n);
        assertEquals("", String.join("\n", failures), "scenario blocks of the docs that do not pass");
    }

    @Test
    void everyTranscriptAnswersAsWritten() throws IOException {
        List<String> failures = new ArrayList<>();
        int n = 0;
        for (Path doc : Docs.all()) {
            List<String> text = new ArrayList<>(Markdown.lines(doc));
            boolean changed = false;
            List<Markdown.Block> blocks = new ArrayList<>(Markdown.blocks(doc, SESSION));
            blocks.addAll(Markdown.blocks(doc, SHELL));
            blocks.sort(java.util.Comparator.comparingInt(Markdown.Block::line));
            // from the last block up, so the line numbers of earlier blocks stay right when one is rewritten
            for (int i = blocks.size() - 1; i >= 0; i--) {
                Markdown.Block b = blocks.get(i);
                n++;
                List<String> actual = b.info().equals(SHELL) ? shell(b.lines()) : replay(b.lines());
                String diff = compare(b, actual);
                if (diff.isEmpty())
                    continue;
                if (UPDATE && !b.lines().contains(ANY)) {
                    for (int k = 0; k < b.lines().size(); k++)
                        text.remove(b.line() - 1);
                    text.addAll(b.line() - 1, keepWildcards(b.lines(), actual));
                    changed = true;
                } else {
                    failures.add(diff);
                }
            }
            if (changed)
                Files.write(doc, text);
        }
        assertTrue(n >= 1, "session blocks found: " + n);
        assertEquals("", String.join("\n\n", failures), "transcripts of the docs that the model no longer gives "
                + "(-Dtdplab.docs.update=true rewrites them; review the diff)");
    }

    /** Runs the block's statements in a fresh session; the result is the block as the model would write it. */
    static List<String> replay(List<String> block) {
        Session session = new Session(manager());
        List<String> out = new ArrayList<>();
        try {
            for (String l : block) {
                if (!l.startsWith(PROMPT))
                    continue;
                out.add(l);
                out.addAll(session.execute(l.substring(PROMPT.length())));
            }
        } finally {
            session.close();
        }
        return out;
    }

    /** Runs the block's {@code tdplab> COMMAND} lines in a fresh shell; the block as the shell would write it. */
    static List<String> shell(List<String> block) {
        List<String> out = new ArrayList<>();
        try (ShellDriver shell = new ShellDriver(manager())) {
            for (String l : block) {
                if (!l.startsWith(SHELL_PROMPT))
                    continue;
                out.add(l);
                out.addAll(shell.execute(l.substring(SHELL_PROMPT.length())));
            }
        }
        return out;
    }

    /**
     * Where the written block and the model's differ; empty when they agree. A line that is only {@code …} stands
     * for any number of lines.
     */
    static String compare(Markdown.Block b, List<String> actual) {
        List<String> written = b.lines();
        if (agree(written, 0, actual, 0))
            return "";
        int i = 0;
        while (i < written.size() && i < actual.size() && !written.get(i).equals(ANY)
                && matches(written.get(i), actual.get(i)))
            i++;
        String w = i < written.size() ? written.get(i) : "(nothing)";
        String a = i < actual.size() ? actual.get(i) : "(nothing)";
        return Docs.ROOT.relativize(b.file()) + ":" + (b.line() + i) + ": written\n    " + w
                + "\n  the model answers\n    " + a;
    }

    private static boolean agree(List<String> written, int w, List<String> actual, int a) {
        if (w == written.size())
            return a == actual.size();
        if (written.get(w).equals(ANY)) {
            for (int k = a; k <= actual.size(); k++)
                if (agree(written, w + 1, actual, k))
                    return true;
            return false;
        }
        return a < actual.size() && matches(written.get(w), actual.get(a)) && agree(written, w + 1, actual, a + 1);
    }

    static boolean matches(String written, String actual) {
        if (!written.contains(ANY))
            return written.equals(actual);
        String[] parts = written.split(Pattern.quote(ANY), -1);
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0)
                re.append(".*");
            re.append(Pattern.quote(parts[i]));
        }
        return actual.matches(re.toString());
    }

    /** The model's lines, keeping a written line with {@code …} where it still matches. */
    private static List<String> keepWildcards(List<String> written, List<String> actual) {
        List<String> out = new ArrayList<>(actual);
        for (int i = 0; i < Math.min(written.size(), actual.size()); i++)
            if (written.get(i).contains(ANY) && matches(written.get(i), actual.get(i)))
                out.set(i, written.get(i));
        return out;
    }
}
