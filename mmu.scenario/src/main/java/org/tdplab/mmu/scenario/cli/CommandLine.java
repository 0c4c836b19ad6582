package org.tdplab.mmu.scenario.cli;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.startlevel.FrameworkStartLevel;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * The {@code ./tdplab SUBCOMMAND …} entry point. The bnd launcher calls this {@code main.thread} service on the
 * main thread once every bundle has started and exits with its result. A subcommand is a Gogo command in scope
 * {@code mmu} that lists itself in its {@code mmu.command.summary} property; it lives in the bundle that owns it.
 * Exit status: 0 ok, 1 failure, 2 usage error.
 */
@Component(property = "main.thread=true")
public class CommandLine implements Callable<Integer> {
    static final int OK = 0, FAILURE = 1, USAGE = 2;
    static final String SCOPE = "mmu";
    static final String SUMMARY = "mmu.command.summary";
    static final int SHELL_START_LEVEL = 10;
    /** The framework property Gogo's jline bundle reads its shell's options from, and the thread it runs it on. */
    static final String GOSH_ARGS = "gosh.args", GOGO_SHELL_THREAD = "Gogo shell";

    @Reference
    CommandProcessor processor;

    private BundleContext context;
    private final CountDownLatch stopped = new CountDownLatch(1);

    @Activate
    void activate(BundleContext context) {
        this.context = context;
    }

    @Deactivate
    void deactivate() {
        stopped.countDown();
    }

    @Override
    public Integer call() throws Exception {
        List<String> args = launcherArguments();
        if (args.isEmpty())
            return help(System.out);
        if (args.get(0).equals("shell"))
            return shell();
        String sub = args.get(0);
        List<String> rest = args.subList(1, args.size());
        return switch (sub) {
        case "help", "-h", "--help" -> rest.isEmpty() ? help(System.out)
                : rest.size() == 1 ? helpOn(rest.get(0)) : extra("help", rest);
        case "version", "--version" -> rest.isEmpty() ? version(System.out) : extra("version", rest);
        default -> dispatch(sub, rest);
        };
    }

    /**
     * Gogo's jline shell sits above the framework's beginning start level (see app/tdplab.bndrun), so batch
     * commands never open a terminal; the shell raises the level and returns when Gogo's shell ends. Gogo is told
     * not to stop the framework itself ({@code gosh.args=--noshutdown}): the launcher treats a framework stopped
     * while this method runs as stopped from outside and exits with its own status 117, racing this method's 0.
     * Returning first lets the launcher stop the framework, which is then an orderly exit with status 0.
     */
    private int shell() throws InterruptedException {
        try {
            ShellProfile.install(context);
        } catch (IOException | RuntimeException e) {
            System.err.println("tdplab shell: the session profile could not be written (" + e.getMessage()
                    + "); the shell starts without tdplab's help, completion and prompt");
        }
        if (context.getProperty(GOSH_ARGS) == null)
            System.setProperty(GOSH_ARGS, "--noshutdown");
        CountDownLatch raised = new CountDownLatch(1);
        context.getBundle(0).adapt(FrameworkStartLevel.class).setStartLevel(SHELL_START_LEVEL,
                event -> raised.countDown());
        raised.await();
        Thread gogo = gogoShellThread();
        if (gogo == null) { // it started none, or it ended already (gosh.args it refused)
            System.err.println("tdplab shell: Gogo's shell did not start or ended at once (its bundle "
                    + ShellProfile.GOGO_SHELL_BUNDLE + " missing, or gosh.args=" + context.getProperty(GOSH_ARGS)
                    + " refused)");
            return FAILURE;
        }
        Thread end = new Thread(() -> {
            try {
                gogo.join();
            } catch (InterruptedException e) {
                return;
            }
            stopped.countDown();
        }, "tdplab shell end");
        end.setDaemon(true);
        end.start();
        stopped.await(); // the shell ended, or the framework is stopping (e.g. `stop 0` typed at the shell)
        return OK;
    }

    /** The thread Gogo's jline bundle runs its shell on once started, or null if it started none. */
    private static Thread gogoShellThread() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals(GOGO_SHELL_THREAD) && t.isAlive()).findFirst().orElse(null);
    }

    private int dispatch(String sub, List<String> rest) {
        if (!subcommands().containsKey(sub)) {
            System.err.printf("tdplab: unknown command '%s'; try './tdplab help'%n", sub);
            return USAGE;
        }
        // Gogo routes System.out through its sessions; hand the session the process's real descriptors.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true);
        CommandSession session = processor.createSession(new FileInputStream(FileDescriptor.in), out, err);
        try {
            StringBuilder line = new StringBuilder(SCOPE).append(':').append(sub);
            for (int i = 0; i < rest.size(); i++) {
                // pass arguments as variables so Gogo does not re-parse them
                session.put("a" + i, rest.get(i));
                line.append(" $a").append(i);
            }
            Object result = session.execute(line);
            out.flush();
            return result instanceof Integer status ? status : OK;
        } catch (Exception e) {
            Throwable cause = rootCause(e);
            if (Boolean.getBoolean("tdplab.debug"))
                cause.printStackTrace();
            if (noMethodTakes(cause) && rest.size() == 1 && List.of("--help", "-h").contains(rest.get(0))) {
                out.printf("./tdplab %s: %s%n", sub, subcommands().get(sub)); // a command with no options
                return OK;
            }
            System.err.printf("tdplab %s: %s%n", sub, problem(sub, rest, cause, subcommands().get(sub)));
            return cause instanceof IllegalArgumentException ? USAGE : FAILURE;
        } finally {
            session.close();
        }
    }

    /**
     * What a failed command says: its own message, or — where Gogo found no method of the command that takes the
     * arguments given ("Cannot coerce …", Java's words) — which arguments, and what the command does.
     */
    static String problem(String sub, List<String> rest, Throwable cause, String summary) {
        if (noMethodTakes(cause))
            return unexpected(sub, rest, summary);
        String m = cause.getMessage();
        if (m != null && !m.isBlank())
            return m;
        return cause instanceof IllegalArgumentException ? "bad arguments; try './tdplab " + sub + " --help'"
                : "failed unexpectedly (a bug in tdplab; TDPLAB_JAVA_OPTS=-Dtdplab.debug=true shows where)";
    }

    /** Gogo found no method of the command that takes the arguments given. */
    private static boolean noMethodTakes(Throwable cause) {
        return cause instanceof IllegalArgumentException && cause.getMessage() != null
                && cause.getMessage().startsWith("Cannot coerce ");
    }

    private static String unexpected(String sub, List<String> rest, String summary) {
        return "unexpected arguments '" + String.join(" ", rest) + "'" + (summary != null ? " (" + sub + ": "
                + summary + ")" : "; try './tdplab help'");
    }

    /** The exception a command threw, without Gogo's reflection wrappers. */
    static Throwable rootCause(Throwable t) {
        while ((t instanceof java.lang.reflect.InvocationTargetException || t.getClass() == RuntimeException.class)
                && t.getCause() != null)
            t = t.getCause();
        return t;
    }

    private int help(PrintStream out) {
        out.println("usage: ./tdplab COMMAND [ARGS…]");
        out.println();
        commands().forEach((name, summary) -> out.printf("  %-10s %s%n", name, summary));
        out.println();
        out.println("Each command runs in a fresh runtime; VMs live only as long as one run or one shell.");
        out.println("Exit status: 0 ok, 1 failure, 2 usage error. Documentation: README.md and docs/.");
        return OK;
    }

    /** Every command, in the order {@code help} lists them, with its summary. */
    private Map<String, String> commands() {
        Map<String, String> all = new java.util.LinkedHashMap<>();
        all.put("shell", "an interactive shell: statements one at a time on VMs that live until you leave (help, Tab, "
                + "exit)");
        all.put("version", "print the versions of tdplab, its bundles, the framework and Java");
        all.put("help", "print this text; help COMMAND: that command's usage");
        all.putAll(subcommands());
        // run by ./tdplab itself in a JVM of its own (the benchmarks module), not by this runtime
        all.put("bench", "the benchmark suite, each figure next to its physical floor: bench [--sizes 1G,16G] "
                + "[--types T,…] [--only PART,…] [--quick] [--out FILE]; or this build against another, shot for "
                + "shot: bench --against OTHER [--rounds N]; or what a VM option costs: bench --with KEY=VALUE "
                + "(./tdplab bench --help lists every option)");
        return all;
    }

    /** A command of this class given arguments it takes none of. */
    private int extra(String name, List<String> rest) {
        System.err.printf("tdplab %s: %s%n", name, unexpected(name, rest, commands().get(name)));
        return USAGE;
    }

    /** {@code help COMMAND}: the command's own {@code --help}, or its summary for a command without one. */
    private int helpOn(String name) {
        if (subcommands().containsKey(name))
            return dispatch(name, List.of("--help"));
        String summary = commands().get(name);
        if (summary == null) {
            System.err.printf("tdplab help: unknown command '%s'; try './tdplab help'%n", name);
            return USAGE;
        }
        System.out.printf("./tdplab %s: %s%n", name, summary);
        return OK;
    }

    private int version(PrintStream out) {
        Bundle self = context.getBundle();
        out.printf("tdplab %s%n", self.getVersion());
        for (Bundle b : context.getBundles())
            if (b.getSymbolicName() != null && b.getSymbolicName().matches("(mmu|backend)\\..*"))
                out.printf("  %-16s %s%n", b.getSymbolicName(), b.getVersion());
        Bundle fw = context.getBundle(0);
        out.printf("  %-16s %s%n", fw.getSymbolicName(), fw.getVersion());
        out.printf("  %-16s %s%n", "java", System.getProperty("java.version"));
        return OK;
    }

    /** Subcommand name → summary, from every {@code mmu} command service's {@code mmu.command.summary}. */
    Map<String, String> subcommands() {
        Map<String, String> out = new TreeMap<>();
        try {
            ServiceReference<?>[] refs = context.getServiceReferences((String) null,
                    "(&(osgi.command.scope=" + SCOPE + ")(" + SUMMARY + "=*))");
            for (ServiceReference<?> ref : refs == null ? new ServiceReference<?>[0] : refs)
                for (String entry : strings(ref.getProperty(SUMMARY))) {
                    int colon = entry.indexOf(':');
                    if (colon > 0)
                        out.put(entry.substring(0, colon).trim(), entry.substring(colon + 1).trim());
                }
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    private List<String> launcherArguments() throws InvalidSyntaxException {
        ServiceReference<?>[] refs = context.getServiceReferences((String) null, "(launcher.arguments=*)");
        if (refs == null)
            return List.of();
        return new ArrayList<>(strings(refs[0].getProperty("launcher.arguments")));
    }

    private static List<String> strings(Object value) {
        if (value instanceof String[] array)
            return Arrays.asList(array);
        if (value instanceof String s)
            return List.of(s);
        return List.of();
    }
}
