package org.tdplab.mmu.scenario.shell;

import java.util.Arrays;
import java.util.Hashtable;

import org.apache.felix.gogo.jline.Shell;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Descriptor;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;

/**
 * Gogo's {@code sh} and {@code gosh} as the shell offers them: a script (or {@code -c} line) in a new session. Gogo's
 * own start that session interactive and read {@code gosh_profile} first, whose {@code setopt} needs the line reader
 * of Gogo's console, which this shell does not run: every {@code sh FILE} failed with a Java message about a null
 * reader. These run the script the same way without the profile (Gogo's {@code --nointeractive}), and say in words
 * what they do not do: a nested interactive shell, or {@code --login}, which would read the profile and then stop
 * the framework.
 */
public final class WordedScripts {
    private final BundleContext context;

    private WordedScripts(BundleContext context) {
        this.context = context;
    }

    /** Registers {@code sh} and {@code gosh} in scope {@code gogo}, ranked above Gogo's own. */
    static ServiceRegistration<?> register(BundleContext context) {
        Hashtable<String, Object> props = new Hashtable<>();
        props.put(CommandProcessor.COMMAND_SCOPE, "gogo");
        props.put(CommandProcessor.COMMAND_FUNCTION, new String[] {"sh", "gosh"});
        props.put(Constants.SERVICE_RANKING, 1); // Gogo's own are registered without one (0)
        return context.registerService(Object.class, new WordedScripts(context), props);
    }

    @Descriptor("runs a script file (or -c a line) in a new session: sh [-x] FILE [ARGS…] or sh -c LINE…")
    public Object sh(CommandSession session, String[] argv) throws Exception {
        return run("sh", session, argv);
    }

    @Descriptor("runs a script file (or -c a line) in a new session: gosh [-x] FILE [ARGS…] or gosh -c LINE…")
    public Object gosh(CommandSession session, String[] argv) throws Exception {
        return run("gosh", session, argv);
    }

    private Object run(String name, CommandSession session, String[] argv) throws Exception {
        if (asksForHelp(argv))
            return usage(name);
        String refusal = refusal(name, argv);
        if (refusal != null)
            throw new IllegalArgumentException(refusal);
        ServiceReference<?> ref = ShellSession.gogoShell(context);
        Object gogo = ref == null ? null : context.getService(ref);
        if (!(gogo instanceof Shell shell))
            throw new IllegalStateException("Gogo's shell bundle is not running, so there is no " + name + " to run");
        try {
            String[] args = new String[argv.length + 1];
            args[0] = "--nointeractive"; // no profile, no nested prompt: the script (or line) and nothing else
            System.arraycopy(argv, 0, args, 1, argv.length);
            return shell.sh(session, args);
        } finally {
            context.ungetService(ref);
        }
    }

    /**
     * Why {@code argv} asks for what this shell does not do, or null: no script and no {@code -c} (a nested
     * interactive shell), or {@code --login}. Gogo reads options only before the first other argument.
     */
    static String refusal(String name, String[] argv) {
        for (String a : argv == null ? new String[0] : argv) {
            if (a.equals("-c") || a.equals("--command"))
                return null;
            if (a.equals("--login"))
                return "--login reads Gogo's profile and stops the framework when the script ends; this shell has "
                        + "neither: " + name + " FILE [ARGS…] runs a script in a new session, source FILE in this one";
            if (!a.startsWith("-"))
                return null; // the script
        }
        return "this shell is interactive already: " + name + " FILE [ARGS…] runs a script in a new session, " + name
                + " -c LINE… a line, source FILE a script in this session (given: " + name
                + (argv == null || argv.length == 0 ? "" : " " + String.join(" ", Arrays.asList(argv))) + ")";
    }

    /** Whether {@code -?} or {@code --help} comes among the options, before the script. */
    static boolean asksForHelp(String[] argv) {
        for (String a : argv == null ? new String[0] : argv) {
            if (a.equals("-?") || a.equals("--help"))
                return true;
            if (!a.startsWith("-") || a.equals("-c") || a.equals("--command"))
                return false;
        }
        return false;
    }

    /** What this shell's {@code sh} and {@code gosh} take (Gogo's usage describes an interactive shell too). */
    static String usage(String name) {
        return String.join(System.lineSeparator(),
                name + " - runs a script in a new session; its arguments are $1..$9 and $args there",
                "usage: " + name + " [-x] [--nohistory] FILE [ARGS…]",
                "       " + name + " [-x] -c LINE…       (the rest of the line is run)",
                "  -x --xtrace    echo each command before it runs",
                "source FILE runs a script in this session; the shell is interactive already, so " + name
                        + " without a script is refused");
    }
}
