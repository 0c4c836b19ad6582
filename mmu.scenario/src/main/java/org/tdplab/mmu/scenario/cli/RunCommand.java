package org.tdplab.mmu.scenario.cli;

import java.util.ArrayList;
import java.util.List;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Runner;

/** {@code ./tdplab run [--checked] FILE…} (Gogo {@code mmu:run}): runs scenario files; the result is the exit status. */
@Component(service = RunCommand.class, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=run",
        "mmu.command.summary=run: run scenario files: run [--checked] FILE… (0 all held, 1 some failed, 2 unreadable)" })
public class RunCommand {
    static final String USAGE = "usage: ./tdplab run [--checked] FILE…";

    @Reference
    VmManager manager;

    public Integer run(String... args) {
        boolean checked = false;
        List<String> files = new ArrayList<>();
        boolean options = true;
        for (String a : args) {
            if (options && a.equals("--")) {
                options = false;
            } else if (options && a.equals("--checked")) {
                checked = true;
            } else if (options && (a.equals("-h") || a.equals("--help"))) {
                System.out.println(USAGE);
                System.out.println("  --checked  run the invariant checker after every statement (it always runs at the end)");
                return Runner.OK;
            } else if (options && (a.equals("--json") || a.equals("--html"))) {
                return usage(a + ": reports are not built yet");
            } else if (options && a.startsWith("-") && a.length() > 1) {
                return usage("unknown option '" + a + "'");
            } else {
                files.add(a);
            }
        }
        if (files.isEmpty())
            return usage("no scenario files given");
        return new Runner(manager, System.out, System.err).run(files, checked);
    }

    private static Integer usage(String problem) {
        System.err.println("tdplab run: " + problem + "; " + USAGE);
        return Runner.UNREADABLE;
    }
}
