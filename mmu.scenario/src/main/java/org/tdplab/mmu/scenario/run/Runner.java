package org.tdplab.mmu.scenario.run;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.io.Input;
import org.tdplab.mmu.scenario.lang.ParseException;
import org.tdplab.mmu.scenario.lang.ParseResult;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Script;

/**
 * Runs scenario files against a {@link VmManager}. Every file is read and parsed before anything runs; if any
 * cannot be, its errors go to {@code err} and nothing runs (status 2). Otherwise each file runs in its own VMs; each
 * failure, a summary line per file and a last {@code N passed, M failed} line go to {@code out} (status 0 when
 * every file held, else 1).
 */
public final class Runner {
    public static final int OK = 0, FAILED = 1, UNREADABLE = 2;
    /** Read and parse errors printed before the rest are only counted. */
    static final int SHOWN_ERRORS = 100;

    private final VmManager manager;
    private final PrintStream out;
    private final PrintStream err;
    private final List<FileResult> results = new ArrayList<>();
    private boolean progress;
    private boolean pictures;

    /** Takes each VM's pictures at the end of each file and each workload's timeline, for {@code --html}. */
    public Runner pictures(boolean on) {
        this.pictures = on;
        return this;
    }

    private final List<String> unreadable = new ArrayList<>();

    public Runner(VmManager manager, PrintStream out, PrintStream err) {
        this.manager = manager;
        this.out = out;
        this.err = err;
    }

    /** Shows a progress line on {@code err} while running (the caller knows whether it is a terminal). */
    public Runner progress(boolean on) {
        this.progress = on;
        return this;
    }

    /** Runs {@code files} (paths relative to the current directory) and returns the exit status. */
    public int run(List<String> files, boolean checked) {
        results.clear();
        unreadable.clear();
        List<Script> scripts = parseAll(files);
        if (scripts == null)
            return UNREADABLE;
        int passed = 0, failed = 0;
        Progress bar = Progress.on(err, progress);
        try {
            for (int i = 0; i < scripts.size(); i++) {
                Script script = scripts.get(i);
                FileResult result;
                boolean interrupted = false;
                try { // the file's run and its VMs are garbage once this block is left
                    FileRun run = new FileRun(manager, script, checked, line -> print(bar, line), bar)
                            .pictures(pictures);
                    result = run.run();
                    interrupted = run.interrupted();
                } catch (OutOfMemoryError e) { // also where no VM operation ran: making the run, its result
                    result = new FileResult(script.file(), script.statements().size(), 0,
                            List.of(OutOfMemory.failure(script.file(), null, "the file did not finish")));
                }
                results.add(result);
                result.failures().forEach(f -> print(bar, f.render()));
                print(bar, result.summary());
                if (result.ok())
                    passed++;
                else
                    failed++;
                if (interrupted) {
                    print(bar, "interrupted" + (i + 1 < scripts.size() ? ": " + (scripts.size() - i - 1)
                            + " more file" + (scripts.size() - i - 1 == 1 ? "" : "s") + " not run" : ""));
                    break;
                }
            }
        } finally {
            if (bar != null)
                bar.close();
        }
        out.println(passed + " passed, " + failed + " failed");
        out.flush();
        return failed == 0 ? OK : FAILED;
    }

    /** Why the last {@link #run} ran nothing (status 2): the lines it printed on {@code err}; empty when it ran. */
    public List<String> unreadable() {
        return List.copyOf(unreadable);
    }

    /** The result of every file the last {@link #run} ran, in order (empty when nothing ran). */
    public List<FileResult> results() {
        return List.copyOf(results);
    }

    private void print(Progress bar, String line) {
        if (bar != null)
            bar.clear();
        out.println(line);
        out.flush();
    }

    /**
     * Every file's script, or null after reporting the read and parse errors: the first {@link #SHOWN_ERRORS} of
     * them, then how many more there were.
     */
    private List<Script> parseAll(List<String> files) {
        Parser parser = BackendVerbs.parser(manager.verbs(), manager.exceptionNames(), err);
        List<Script> scripts = new ArrayList<>();
        int bad = 0;
        long shown = 0, more = 0;
        for (String file : files) {
            try {
                ParseResult r = parser.parse(Path.of(file));
                if (r.ok()) {
                    scripts.add(r.script());
                    continue;
                }
                for (ParseException e : r.errors())
                    if (shown++ < SHOWN_ERRORS)
                        problem(e.getMessage());
                more += r.omitted();
            } catch (IOException | InvalidPathException e) {
                if (shown++ < SHOWN_ERRORS)
                    problem(file + ": cannot read: " + Input.why(e));
            }
            bad++;
        }
        if (bad == 0)
            return scripts;
        more += Math.max(0, shown - SHOWN_ERRORS);
        if (more > 0)
            problem("… and " + more + " more error" + (more == 1 ? "" : "s") + " (the first " + SHOWN_ERRORS
                    + " are shown)");
        problem("nothing was run: " + bad + " file" + (bad == 1 ? "" : "s") + " could not be read or parsed");
        err.flush();
        return null;
    }

    /** A line saying why nothing runs, on {@code err} and for the reports ({@link #unreadable}). */
    private void problem(String line) {
        err.println(line);
        unreadable.add(line);
    }
}
