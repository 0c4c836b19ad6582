package org.tdplab.mmu.scenario.shell;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;

import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Job;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.scenario.lang.CoreVerbs;
import org.tdplab.mmu.scenario.lang.Hints;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Schema;

/**
 * The shell's own commands in scope {@code mmu}: {@code help} (tdplab's commands first, the framework's below),
 * {@code exit} and {@code quit}, what an unknown command answers (Gogo's {@code default}), and the completion
 * function Tab calls ({@code __complete}, hidden). The session profile of {@code ./tdplab shell} puts scope
 * {@code mmu} first, so these answer to their plain names. Immediate: one instance for the runtime's life, which
 * keeps what {@link #__start} set up — delayed, SCR disposed of it each time Gogo let go of the service after a
 * command, and with it the statements' commands right after they were registered.
 */
@Component(service = ShellSession.class, immediate = true, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=help", "osgi.command.function=exit", "osgi.command.function=quit",
        "osgi.command.function=default", "osgi.command.function=__complete", "osgi.command.function=__start",
        "osgi.command.function=__line" })
public class ShellSession {
    /** The session variable in which Gogo keeps the names of every command. */
    static final String COMMANDS = ".commands";
    /** The session variable in which the shell's line reader leaves a line for {@link #__line}. */
    static final String FOREIGN_LINE = ".tdplab.line";

    @Reference
    VmManager manager;

    @Reference
    ShellCommands shell;

    private BundleContext context;
    /** The backends there are: their verbs are commands too once the shell started ({@link StatementCommands}). */
    private final List<Backend> backends = new CopyOnWriteArrayList<>();
    private volatile StatementCommands statements;
    /** The interactive shell's session ({@link #__start}); its commands set up what Tab needs there. */
    private volatile CommandSession shellSession;
    /** Gogo's file commands answering failures in words ({@link WordedPosix}), from the first {@link #__start}. */
    private ServiceRegistration<?> wordedPosix;
    /** Gogo's {@code sh} and {@code gosh} without the interactive profile ({@link WordedScripts}). */
    private ServiceRegistration<?> wordedScripts;

    @Activate
    void activate(BundleContext context) {
        this.context = context;
    }

    @Deactivate
    void deactivate() {
        StatementCommands s = statements;
        if (s != null)
            s.close();
        synchronized (this) {
            if (wordedPosix != null)
                wordedPosix.unregister();
            if (wordedScripts != null)
                wordedScripts.unregister();
            wordedPosix = null;
            wordedScripts = null;
        }
    }

    @Reference(service = Backend.class, cardinality = ReferenceCardinality.MULTIPLE,
            policy = ReferencePolicy.DYNAMIC, unbind = "backendGone")
    void backendCame(Backend b) {
        backends.add(b);
        resync();
    }

    void backendGone(Backend b) {
        backends.remove(b);
        resync();
    }

    private void resync() {
        StatementCommands s = statements;
        if (s != null)
            s.sync(verbs());
    }

    /** The statements' verbs: the language's own and each backend's. */
    private Set<String> verbs() {
        Set<String> verbs = new TreeSet<>(STATEMENTS);
        backends.forEach(b -> b.verbs().forEach(v -> verbs.add(v.name())));
        return verbs;
    }

    /** {@code help}: tdplab's commands, then the framework's by scope. */
    public void help(CommandSession session) {
        completeLateVerbs();
        PrintStream out = System.out;
        help().list().forEach(out::println);
        Map<String, Set<String>> byScope = new TreeMap<>();
        for (String name : commands(session)) {
            int colon = name.indexOf(':');
            String scope = colon < 0 ? "" : name.substring(0, colon), fn = name.substring(colon + 1);
            if (!scope.equals("mmu") && !fn.startsWith("_"))
                byScope.computeIfAbsent(scope, k -> new TreeSet<>()).add(fn);
        }
        if (byScope.isEmpty())
            return;
        out.println();
        out.println("Framework commands (Felix, Gogo; help NAME describes one):");
        byScope.forEach((scope, names) -> wrap(out, "  " + scope + ": ", String.join(" ", names)));
    }

    /**
     * {@code help NAME}: a tdplab command's usage, options and example; the framework's help for others. More words
     * after the name are answered here (Gogo would answer them with Java's words: no such method).
     */
    public void help(CommandSession session, String name, String... more) throws Exception {
        if (more.length > 0) {
            System.out.println("help describes one command at a time: help " + name + " (help alone lists them)");
            return;
        }
        Optional<Help.Command> c = Help.command(name);
        if (c.isPresent()) {
            help().page(c.get()).forEach(System.out::println);
            return;
        }
        String scoped = name.contains(":") ? name : commands(session).stream()
                .filter(n -> n.endsWith(":" + name) && !n.startsWith("mmu:")).findFirst().orElse(null);
        if (scoped == null || !commands(session).contains(scoped)) {
            System.out.println("no command '" + name + "'; help lists them");
            return;
        }
        session.execute("gogo:help " + scoped);
    }

    /**
     * Leaves the shell as Ctrl-D does: Gogo's shell ends its loop once this command returns, and {@code ./tdplab
     * shell} then stops the runtime (which destroys the shell's VMs). Without Gogo's shell, the runtime is stopped
     * directly.
     */
    public void exit() throws BundleException {
        try {
            ServiceReference<?> ref = gogoShell(context); // ours answers to gosh too, and has no stop
            if (ref != null) {
                Object shell = context.getService(ref);
                try {
                    shell.getClass().getMethod("stop").invoke(shell);
                    return;
                } finally {
                    context.ungetService(ref);
                }
            }
        } catch (InvalidSyntaxException | ReflectiveOperationException | RuntimeException e) {
            // not Gogo's jline shell: stop the runtime ourselves
        }
        context.getBundle(0).stop();
    }

    /** Gogo's own shell, the service of its {@code gosh} command (not {@link WordedScripts}, which shares the name); no class of Gogo's shell bundle needed to find it, or null. */
    static ServiceReference<?> gogoShell(BundleContext context) throws InvalidSyntaxException {
        ServiceReference<?>[] refs = context.getServiceReferences((String) null,
                "(&(osgi.command.scope=gogo)(osgi.command.function=gosh))");
        if (refs != null)
            for (ServiceReference<?> r : refs)
                if (r.getBundle() != context.getBundle())
                    return r;
        return null;
    }

    public void quit() throws BundleException {
        exit();
    }

    /** The verbs of the scenario language's own statements; a backend's have a dot too ({@code tdx.finalize}). */
    private static final Set<String> STATEMENTS = CoreVerbs.all().stream().map(Schema::verb)
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    /**
     * What Gogo runs for a command it does not know: a line of the scenario language as written in a file
     * ({@code vm.create a type=default}, {@code tdx.finalize td}) runs as {@code do} runs it, so lines copied from a
     * scenario work as they are; anything else is answered with the nearest tdplab command.
     */
    public Object _default(Object... args) {
        completeLateVerbs();
        String name = args.length > 0 ? String.valueOf(args[0]) : "";
        if (isStatement(name)) {
            shell._do(java.util.Arrays.stream(args).map(String::valueOf).toArray(String[]::new));
            return null;
        }
        String near = Hints.closest(name.startsWith("mmu:") ? name.substring(4) : name,
                Help.COMMANDS.stream().map(Help.Command::name).toList());
        System.out.println("no command '" + name + "'" + (near != null ? "; did you mean '" + near + "'?" : "")
                + " (help lists the commands)");
        return null;
    }

    private static boolean isStatement(String name) {
        return STATEMENTS.contains(name) || name.matches("[a-z][a-z0-9_]*\\.[a-z0-9_.]+");
    }

    /**
     * Runs the line the shell's reader left for it ({@link ForeignLine}: its first word is no tdplab command) and
     * answers a failure in words; the failure stays in {@code $exception}, so Gogo's {@code e} prints its stack.
     */
    public Object __line(CommandSession session) {
        Object line = session.get(FOREIGN_LINE);
        session.put(FOREIGN_LINE, null);
        if (!(line instanceof String text))
            return null;
        try {
            return ForeignLine.tidyResult(ForeignLine.firstWord(text), session.execute(text));
        } catch (Exception e) {
            session.put("exception", e);
            System.out.println(ForeignLine.explain(ForeignLine.firstWord(text), e));
            return null;
        }
    }

    /** Tab's candidates for the line being edited (Gogo puts it in the session as {@code .commandLine}). */
    public Object __complete(CommandSession session) {
        completeLateVerbs();
        return Jline.complete(session.get(".commandLine"), completion());
    }

    /**
     * Tab completion for the verbs of a backend that came after the shell started (a jar dropped into {@code load/}):
     * set up on the shell's session by the first tdplab command, or Tab, that runs there after it came. A Tab on the
     * new verb's arguments before any such command finds nothing yet; the verb itself runs either way.
     */
    void completeLateVerbs() {
        StatementCommands s = statements;
        Job job = Job.Utils.current();
        if (s != null && job != null && job.session() == shellSession)
            s.completeNew();
    }

    /**
     * Run by the session profile of {@code ./tdplab shell}: Tab completion for every tdplab command — under each
     * name it answers to, since Gogo's completer may resolve a plain name such as {@code help} to another scope's —
     * and the banner.
     */
    public void __start(CommandSession session) throws Exception {
        for (Help.Command c : Help.COMMANDS)
            completeWithUs(session, c.name(), c.summary());
        StatementCommands before = statements;
        if (before != null) // a second session: its commands replace the first's
            before.close();
        shellSession = session;
        shell.beforeCommand = this::completeLateVerbs;
        statements = new StatementCommands(context, shell::_do, verb -> completeWithUs(session, verb, "statement "
                + verb + " (as in a scenario file)"));
        statements.start(verbs());
        synchronized (this) {
            try {
                if (wordedPosix == null)
                    wordedPosix = WordedPosix.register(context);
                if (wordedScripts == null && wordedPosix != null)
                    wordedScripts = WordedScripts.register(context);
            } catch (LinkageError noGogoShell) {
                // a session without Gogo's shell bundle has none of its file commands to word
            }
        }
        Object reader = session.get(".reader"); // Gogo's line reader: there only when a person types at a prompt
        if (reader != null)
            Jline.acceptLines(reader, name -> commands(session).contains("mmu:" + name), ShellSession::isStatement,
                    line -> session.put(FOREIGN_LINE, line), "mmu:__line");
        String version = context.getBundle().getVersion().toString();
        System.out.println("tdplab " + version + " — a model of the KVM TDP MMU. Commands run statements of the "
                + "scenario language:");
        System.out.println("  create td type=tdx vcpus=2, slot td 0 gpa=0 size=8M flags=gmem, access …, do …");
        System.out.println("help lists the commands, help COMMAND explains one, Tab completes; Ctrl-C interrupts a "
                + "command; exit, quit or Ctrl-D leaves.");
    }

    /** Tab completes the arguments of command {@code name} with {@link #__complete}, under each name it has. */
    private static void completeWithUs(CommandSession session, String name, String summary) {
        for (String known : commands(session))
            if (known.equals("mmu:" + name) || known.endsWith(":" + name))
                try {
                    session.execute("complete -c " + known + " -e");
                    session.execute("complete -c " + known + " -d '" + summary.replace("'", "") + "'");
                    session.execute("complete -c " + known + " -a mmu:__complete");
                } catch (Exception e) {
                    // no completion for this name: the command itself still runs
                }
    }

    Completion completion() {
        return new Completion(new Completion.Context(shell.session().parser(), shell.session().vmNames(),
                manager.options(), vm -> shell.session().vm(vm).map(Vm::stats).map(Map::keySet).orElse(Set.of()),
                Help.COMMANDS.stream().map(Help.Command::name).toList()));
    }

    Help help() {
        return new Help(shell.session().parser(), manager.options());
    }

    @SuppressWarnings("unchecked")
    private static Set<String> commands(CommandSession session) {
        Object v = session.get(COMMANDS);
        return v instanceof Set<?> s ? (Set<String>) s : Set.of();
    }

    private static void wrap(PrintStream out, String head, String words) {
        StringBuilder line = new StringBuilder(head);
        for (String w : words.split(" ")) {
            if (line.length() + w.length() + 1 > 118) {
                out.println(line);
                line = new StringBuilder(" ".repeat(head.length()));
            }
            line.append(w).append(' ');
        }
        out.println(line.toString().stripTrailing());
    }
}
