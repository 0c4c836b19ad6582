package org.tdplab.mmu.scenario.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.felix.service.command.CommandSession;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.io.Input;
import org.tdplab.mmu.scenario.replay.ReplayResult;
import org.tdplab.mmu.scenario.replay.Replayer;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.shell.Interrupts;
import org.tdplab.mmu.scenario.trace.BadTrace;
import org.tdplab.mmu.scenario.trace.TraceReader;

/**
 * {@code ./tdplab replay [--type TYPE] … TRACE} (Gogo {@code mmu:replay}): runs a trace's operations and faults
 * again and reports the steps whose SPTE changes or results differ. 0 none differ, 1 some do, 2 unreadable.
 */
@Component(service = ReplayCommand.class, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=replay",
        "mmu.command.summary=replay: replay a trace's faults against a VM type and report where the SPTE changes "
                + "differ: replay [--type TYPE] [--option K=V]… [--checked] [--exact] [--max N] TRACE (0 same, "
                + "1 different, 2 unreadable)" })
public class ReplayCommand {
    static final String USAGE = "usage: ./tdplab replay [--type TYPE] [--option K=V]… [--checked] [--exact] [--max N] "
            + "TRACE";

    @Reference
    VmManager manager;

    /** The Gogo command: the exit status as its result, except at the interactive prompt (the summary says it). */
    public Integer replay(CommandSession session, String... args) {
        return Interactive.result(session, Interrupts.interruptible(() -> replay(System.out, System.err, args)));
    }

    int replay(PrintStream out, PrintStream err, String... args) {
        String type = null, file = null;
        Map<String, String> options = new LinkedHashMap<>();
        boolean checked = false, exact = false;
        int max = 20;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
            case "-h", "--help" -> {
                help(out);
                return Runner.OK;
            }
            case "--checked" -> checked = true;
            case "--exact" -> exact = true;
            case "--type", "--option", "--max" -> {
                if (i + 1 >= args.length)
                    return usage(err, a + " needs a value");
                String v = args[++i];
                if (a.equals("--type")) {
                    type = v;
                } else if (a.equals("--max")) {
                    max = v.matches("\\d{1,9}") ? Integer.parseInt(v) : -1;
                    if (max < 0)
                        return usage(err, "--max " + v + " is not a count (0 or more)");
                } else {
                    int eq = v.indexOf('=');
                    if (eq <= 0)
                        return usage(err, "--option " + v + " is not K=V");
                    options.put(v.substring(0, eq), v.substring(eq + 1));
                }
            }
            default -> {
                if (a.startsWith("-") && a.length() > 1)
                    return usage(err, "unknown option '" + a + "'");
                if (file != null)
                    return usage(err, "one TRACE at a time ('" + file + "', then '" + a + "')");
                file = a;
            }
            }
        }
        if (file == null)
            return usage(err, "no TRACE given");
        java.util.List<String> types = manager.backends().stream().map(b -> b.vmType()).sorted().toList();
        if (type != null && !types.contains(type))
            return usage(err, "--type " + type + ": no backend serves it; available: " + String.join(", ", types));
        TraceReader.Trace trace;
        try {
            trace = TraceReader.read(Path.of(file));
            Replayer.check(trace);
        } catch (BadTrace e) {
            e.lines(file).forEach(err::println);
            err.println("tdplab replay: nothing was replayed: " + file + " has lines a replay cannot use");
            return Runner.UNREADABLE;
        } catch (IOException | InvalidPathException e) {
            err.println("tdplab replay: " + file + ": cannot read: " + Input.why(e));
            return Runner.UNREADABLE;
        }
        ReplayResult result;
        try {
            result = new Replayer(manager, new Replayer.Options(type, options, checked, exact)).run(trace);
        } catch (MmuException | IllegalArgumentException e) {
            err.println("tdplab replay: " + file + ": " + e.getMessage());
            return Runner.UNREADABLE;
        }
        result.print(out, max);
        out.flush();
        return result.identical() ? Runner.OK : Runner.FAILED;
    }

    private static void help(PrintStream out) {
        out.println(USAGE);
        out.println("  Replays a trace written by './tdplab run --trace': each VMM operation (tdplab_vm_op) and each");
        out.println("  exit's fault (kvm_page_fault) runs again, one at a time in the trace's order, and the SPTE");
        out.println("  changes each makes are compared with the trace's (kvm_tdp_mmu_spte_changed on that thread).");
        out.println("  --type TYPE   replay on VMs of TYPE instead of the types traced (the traced VM options are");
        out.println("                dropped then; verbs of other types are skipped)");
        out.println("  --option K=V  a VM option for the replay's VMs (repeatable)");
        out.println("  --checked     run the invariant checker after every step (it always runs at the end)");
        out.println("  --exact       compare SPTE values bit for bit (default: GFN, level, and what each SPTE is)");
        out.println("  --max N       print at most N differing steps (default 20)");
    }

    private static int usage(PrintStream err, String problem) {
        err.println("tdplab replay: " + problem + "; " + USAGE);
        return Runner.UNREADABLE;
    }
}
