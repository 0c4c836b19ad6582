package org.tdplab.mmu.scenario.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import org.apache.felix.service.command.CommandSession;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.io.Input;
import org.tdplab.mmu.scenario.io.Output;
import org.tdplab.mmu.scenario.report.HtmlReport;
import org.tdplab.mmu.scenario.report.JsonReport;
import org.tdplab.mmu.scenario.run.Progress;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.shell.Interrupts;
import org.tdplab.mmu.scenario.shell.ShellCommands;
import org.tdplab.mmu.scenario.trace.TraceWriter;

/**
 * {@code ./tdplab run [--checked] FILE…} (Gogo {@code mmu:run}): runs scenario files; the result is the exit status.
 */
@Component(service = RunCommand.class, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=run",
        "mmu.command.summary=run: run scenario files: run [--checked] [--quiet] [--trace FILE] [--json FILE] "
                + "[--html FILE] FILE… (0 all held, 1 some failed, "
                + "2 unreadable)" })
public class RunCommand {
    static final String USAGE = "usage: ./tdplab run [--checked] [--quiet] [--trace FILE] [--json FILE] "
            + "[--html FILE] FILE…";

    @Reference
    VmManager manager;

    /** The shell's commands, whose session has VMs: there {@code run VM WORKLOAD …} is the workload statement. */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    volatile ShellCommands shell;

    /** The Gogo command: the exit status as its result, except at the interactive prompt (the summary says it). */
    public Integer run(CommandSession session, String... args) {
        ShellCommands sh = shell;
        if (sh != null && isWorkloadStatement(sh, args)) {
            sh._do(prepend("run", args)); // typed as a scenario file has it: run vm demand_paging …
            return null;
        }
        return Interactive.result(session, Interrupts.interruptible(() -> run(args)));
    }

    /** {@code run VM …} where VM is one of the shell's VMs and no file of that name exists. */
    private static boolean isWorkloadStatement(ShellCommands sh, String... args) {
        return args.length >= 2 && !args[0].startsWith("-") && sh.session().vm(args[0]).isPresent()
                && !Files.exists(Path.of(args[0]));
    }

    private static String[] prepend(String first, String[] rest) {
        String[] all = new String[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    /** {@code run} over {@code manager} outside the runtime (the container-less path of {@code ./tdplab run}). */
    public static int runOutsideRuntime(VmManager manager, String... args) {
        RunCommand command = new RunCommand();
        command.manager = manager;
        return command.run(args);
    }

    int run(String... args) {
        boolean checked = false, quiet = false;
        String trace = null, json = null, html = null;
        List<String> files = new ArrayList<>();
        boolean options = true;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (options && a.equals("--")) {
                options = false;
            } else if (options && a.equals("--checked")) {
                checked = true;
            } else if (options && a.equals("--quiet")) {
                quiet = true;
            } else if (options && a.equals("--trace")) {
                if (i + 1 >= args.length)
                    return usage("--trace needs a FILE");
                trace = args[++i];
            } else if (options && a.equals("--json")) {
                if (i + 1 >= args.length)
                    return usage("--json needs a FILE");
                json = args[++i];
            } else if (options && (a.equals("-h") || a.equals("--help"))) {
                System.out.println(USAGE);
                System.out.println("  --checked     run the invariant checker after every statement (it always runs "
                        + "at the end)");
                System.out.println("  --quiet       no progress line on stderr (shown only when stderr is a terminal)");
                System.out.println("  --trace FILE  write every SPTE change, fault, exit and firmware call to FILE in "
                        + "trace-cmd report format");
                System.out.println("  --json FILE   write every statement's result, the expectations, counters, "
                        + "invariant results and timings to FILE (schema " + JsonReport.SCHEMA + ", see README)");
                System.out.println("  --html FILE   write a self-contained HTML page with the results and pictures of "
                        + "each VM (GPA space, levels, firmware calls) and of each workload (faults and zaps over "
                        + "time)");
                return Runner.OK;
            } else if (options && a.equals("--html")) {
                if (i + 1 >= args.length)
                    return usage("--html needs a FILE");
                html = args[++i];
            } else if (options && a.startsWith("-") && a.length() > 1) {
                return usage("unknown option '" + a + "'");
            } else {
                files.add(a);
            }
        }
        if (files.isEmpty())
            return usage("no scenario files given");
        if (files.size() >= 2 && org.tdplab.mmu.scenario.workload.Workloads.names().contains(files.get(1))
                && !exists(files.get(0)))
            return usage("'" + files.get(0) + "' is no file, and '" + files.get(1) + "' is a workload: 'run VM "
                    + "WORKLOAD …' is a line of a scenario file, and in the shell runs it on a VM the shell has (it "
                    + "has no VM '" + files.get(0) + "' now)");
        List<String> scenarios = new ArrayList<>();
        for (String f : files) {
            List<String> in = scenariosIn(f);
            if (in != null && in.isEmpty())
                return usage(f + " is a directory without .scn files");
            scenarios.addAll(in != null ? in : List.of(f));
        }
        String[][] targets = { { "--trace", trace }, { "--json", json }, { "--html", html } };
        for (String[] t : targets)
            if (t[1] != null && Output.problem(t[1]) != null)
                return cannotWrite(t[0], t[1], Output.problem(t[1]));
        String clash = Output.clash(targets, scenarios);
        if (clash != null)
            return usage(clash + "; nothing was run or written");
        Runner runner = new Runner(manager, System.out, System.err).progress(!quiet && Progress.stderrIsTerminal())
                .pictures(html != null);
        boolean check = checked;
        int[] ran = { -1 };
        int status = trace == null ? (ran[0] = runner.run(scenarios, checked))
                : traceTo(trace, () -> ran[0] = runner.run(scenarios, check));
        if (ran[0] < 0)
            return status; // the trace could not be opened: nothing ran
        List<String> why = runner.unreadable();
        if (json != null)
            status = write("--json", json, () -> JsonReport.render(runner.results(), why, check, ran[0]), status);
        if (html != null)
            status = write("--html", html, () -> HtmlReport.render(runner.results(), why, check, ran[0]), status);
        return status;
    }

    private static boolean exists(String file) {
        try {
            return Files.exists(Path.of(file));
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    /** The {@code .scn} files of a directory, in name order (not its subdirectories'); null when it is none. */
    private static List<String> scenariosIn(String file) {
        Path dir;
        try {
            dir = Path.of(file);
        } catch (java.nio.file.InvalidPathException e) {
            return null; // the runner says it cannot read it
        }
        if (!Files.isDirectory(dir))
            return null;
        try (java.util.stream.Stream<Path> list = Files.list(dir)) {
            return list.filter(p -> p.getFileName().toString().endsWith(".scn") && Files.isRegularFile(p))
                    .map(Path::toString).sorted().toList();
        } catch (IOException e) {
            return null; // unreadable: the runner says why
        }
    }

    /** Writes a report; a failed write is reported and makes the status a failure. */
    private static int write(String option, String file, Supplier<String> text, int status) {
        try (java.io.OutputStream standard = Output.standardStream(file)) {
            if (standard != null)
                standard.write(text.get().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            else
                Files.writeString(Path.of(file), text.get());
            return status;
        } catch (IOException e) {
            cannotWrite(option, file, Input.why(e));
            return Math.max(status, Runner.FAILED);
        }
    }

    private static int cannotWrite(String option, String file, String why) {
        System.err.println("tdplab run: " + option + " " + file + ": cannot write: " + why);
        return Runner.UNREADABLE;
    }

    /**
     * Runs {@code body} tracing into a file beside {@code trace}, which replaces it at the end; when nothing ran
     * (status 2: a file could not be read or parsed) the trace there before is left as it was.
     */
    private int traceTo(String trace, java.util.function.IntSupplier body) {
        Output.Staged staged;
        TraceWriter writer;
        try {
            java.io.OutputStream standard = Output.standardStream(trace);
            staged = standard != null ? new Output.Staged(Path.of(trace), Path.of(trace)) : Output.staged(trace);
            writer = new TraceWriter(standard != null ? new java.io.BufferedWriter(new java.io.OutputStreamWriter(
                    standard, java.nio.charset.StandardCharsets.UTF_8)) : Files.newBufferedWriter(staged.path()));
        } catch (IOException e) {
            return cannotWrite("--trace", trace, Input.why(e));
        }
        int status = traced(manager, writer, body);
        try {
            if (status == Runner.UNREADABLE) {
                staged.drop();
                return status;
            }
            staged.commit();
        } catch (IOException e) {
            staged.drop();
            cannotWrite("--trace", trace, Input.why(e));
            return Math.max(status, Runner.FAILED);
        }
        if (writer.failure() != null) {
            cannotWrite("--trace", trace, Input.why(writer.failure()) + "; the trace is incomplete");
            return Math.max(status, Runner.FAILED);
        }
        return status;
    }

    /**
     * Runs {@code body} with {@code writer} observing every VM, then closes the trace ({@link TraceWriter#failure}).
     */
    static int traced(VmManager manager, TraceWriter writer, java.util.function.IntSupplier body) {
        manager.addObserver(writer);
        try {
            return body.getAsInt();
        } finally {
            manager.removeObserver(writer);
            writer.close();
        }
    }

    private static Integer usage(String problem) {
        System.err.println("tdplab run: " + problem + "; " + USAGE);
        return Runner.UNREADABLE;
    }
}
