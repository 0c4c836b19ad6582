package org.tdplab.mmu.scenario.shell;

import java.util.Collection;
import java.util.Dictionary;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

import org.apache.felix.service.command.Function;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;

/**
 * The scenario language's statements as commands of scope {@code mmu} ({@code vm.create}, {@code expect},
 * {@code tdx.finalize}, …), each running its line as {@code do} does. Gogo's default handler already runs a line
 * typed as a scenario file has it; these exist because Tab completes a command's name only from the commands Gogo
 * knows. A statement named as a shell command ({@code run}, {@code check}, {@code zap}) stays that command. Only the
 * interactive shell registers them ({@link #start}); a backend's verbs come and go with the backend ({@link #sync}).
 */
final class StatementCommands {
    private final BundleContext context;
    /** Runs one statement line, its words as typed: the verb first. */
    private final Consumer<String[]> run;
    /**
     * Called on the shell's own thread with each verb registered — at {@link #start}, and for a backend that came
     * later at {@link #completeNew} — so that Tab completes its arguments too (Gogo keeps that by name: a backend
     * swapped later finds its verbs' completion still there).
     */
    private final Consumer<String> registered;
    private final Map<String, ServiceRegistration<Function>> commands = new HashMap<>();
    /** Verbs registered since the last {@link #takeNew}: their completion is still to be set up on a session. */
    private final Set<String> fresh = new TreeSet<>();
    private boolean started;

    StatementCommands(BundleContext context, Consumer<String[]> run, Consumer<String> registered) {
        this.context = context;
        this.run = run;
        this.registered = registered;
    }

    /** Registers a command for each of {@code verbs}; from now on {@link #sync} keeps them current. */
    synchronized void start(Collection<String> verbs) {
        started = true;
        update(verbs);
        takeNew().forEach(registered);
    }

    /**
     * Sets up the completion of the verbs registered since {@link #start} or the last call (a backend that came
     * later, on the framework's thread). Only from the shell's own thread: Gogo's session is not shared between
     * threads, and its interactive loop tells nobody before it runs a line, so a command run there calls this.
     */
    synchronized void completeNew() {
        if (started)
            takeNew().forEach(registered);
    }

    private List<String> takeNew() {
        List<String> out = List.copyOf(fresh);
        fresh.clear();
        return out;
    }

    /**
     * The commands are {@code verbs} (less the shell's own command names) once the shell started; else nothing. Run
     * from a backend's (un)binding, on the framework's thread: it touches no session.
     */
    synchronized void sync(Collection<String> verbs) {
        if (started)
            update(verbs);
    }

    private void update(Collection<String> verbs) {
        Set<String> wanted = new TreeSet<>(verbs);
        Help.COMMANDS.forEach(c -> wanted.remove(c.name()));
        commands.keySet().removeIf(v -> {
            if (wanted.contains(v))
                return false;
            unregister(commands.get(v));
            fresh.remove(v);
            return true;
        });
        for (String verb : wanted)
            if (!commands.containsKey(verb)) {
                commands.put(verb, context.registerService(Function.class, (session, args) -> {
                    String[] words = new String[args.size() + 1];
                    words[0] = verb;
                    for (int i = 0; i < args.size(); i++)
                        words[i + 1] = String.valueOf(args.get(i));
                    run.accept(words);
                    return null;
                }, properties(verb)));
                fresh.add(verb);
            }
    }

    synchronized void close() {
        commands.values().forEach(StatementCommands::unregister);
        commands.clear();
        fresh.clear();
        started = false;
    }

    private static Dictionary<String, Object> properties(String verb) {
        Hashtable<String, Object> p = new Hashtable<>();
        p.put("osgi.command.scope", "mmu");
        p.put("osgi.command.function", verb);
        return p;
    }

    private static void unregister(ServiceRegistration<Function> r) {
        try {
            r.unregister();
        } catch (IllegalStateException e) {
            // already gone with the bundle
        }
    }
}
