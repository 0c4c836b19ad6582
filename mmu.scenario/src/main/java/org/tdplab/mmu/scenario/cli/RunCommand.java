package org.tdplab.mmu.scenario.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.felix.service.command.CommandSession;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.report.HtmlReport;
import org.tdplab.mmu.scenario.report.JsonReport;
import org.tdplab.mmu.scenario.run.Progress;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.shell.Interrupts;
import org.tdplab.mmu.scenario.trace.TraceWriter;

/** {@code ./tdplab run [--checked] FILE…} (Gogo {@code mmu:run}): runs scenario files; the result is the exit status. */
@Component(service = RunCommand.class, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=run",
        "mmu.command.summary=run: run scenario files: run [--checked] [--quiet] [--trace FILE] [--json FILE] [--html FILE] FILE… "
                + "(0 all held, 1 some failed, "
                + "2 unreadable)" })
public class RunCommand {
    static final String USAGE = "usage: ./tdplab run [--checked] [--quiet] [--trace FILE] [--json FILE] [--html FILE] FILE…";

    @Reference
    VmManager manager;

    /** The Gogo command: the exit status as its result, except at the interactive prompt (the summary says it). */
    public Integer run(CommandSession session, String... args) {
        return Interactive.result(session, Interrupts.interruptible(() -> run(args)));
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
                System.out.println("  --checked     run the invariant checker after every statement (it always runs at the end)");
                System.out.println("  --quiet       no progress line on stderr (shown only when stderr is a terminal)");
                System.out.println("  --trace FILE  write every SPTE change, fault, exit and firmware call to FILE in "
                        + "trace-cmd report format");
                System.out.println("  --json FILE   write every statement's result, the expectations, counters, invariant "
                        + "results and timings to FILE (schema " + JsonReport.SCHEMA + ", see README)");
                System.out.println("  --html FILE   write a self-contained HTML page with the results and pictures of each "
                        + "VM (GPA space, levels, firmware calls) and of each workload (faults and zaps over time)");
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
        Runner runner = new Runner(manager, System.out, System.err).progress(!quiet && Progress.stderrIsTerminal())
                .pictures(html != null);
        boolean check = checked;
        int status = trace == null ? runner.run(files, checked) : traceTo(trace, () -> runner.run(files, check));
        if (json != null) {
            try {
                Files.writeString(Path.of(json), JsonReport.render(runner.results(), checked, status));
            } catch (IOException | RuntimeException e) {
                System.err.println("tdplab run: --json " + json + ": cannot write: " + e.getMessage());
                return Runner.UNREADABLE;
            }
        }
        if (html != null) {
            try {
                Files.writeString(Path.of(html), HtmlReport.render(runner.results(), checked, status));
            } catch (IOException | RuntimeException e) {
                System.err.println("tdplab run: --html " + html + ": cannot write: " + e.getMessage());
                return Runner.UNREADABLE;
            }
        }
        return status;
    }

    private int traceTo(String trace, java.util.function.IntSupplier body) {
        TraceWriter writer;
        try {
            writer = new TraceWriter(Files.newBufferedWriter(Path.of(trace)));
        } catch (IOException | RuntimeException e) {
            System.err.println("tdplab run: --trace " + trace + ": cannot write: " + e.getMessage());
            return Runner.UNREADABLE;
        }
        return traced(manager, writer, body);
    }

    /** Runs {@code body} with {@code writer} observing every VM, then closes the trace. */
    static int traced(VmManager manager, TraceWriter writer, java.util.function.IntSupplier body) {
        manager.addObserver(writer);
        try {
            return body.getAsInt();
        } finally {
            manager.removeObserver(writer);
            try {
                writer.close();
            } catch (UncheckedIOException e) {
                System.err.println("tdplab run: the trace is incomplete: " + e.getCause().getMessage());
            }
        }
    }

    private static Integer usage(String problem) {
        System.err.println("tdplab run: " + problem + "; " + USAGE);
        return Runner.UNREADABLE;
    }
}
