package org.tdplab.mmu.scenario.shell;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Hashtable;
import java.util.List;

import org.apache.felix.gogo.jline.Posix;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Process;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;

/**
 * Gogo's file and text commands ({@code cat}, {@code ls}, {@code grep}, …) as the shell offers them, answering a
 * failure in words. Gogo's own print the exception itself to the job's error stream
 * ({@code cat: java.io.FileNotFoundException: /x (No such file or directory)}) and return normally, so the shell's
 * wrapper of foreign lines ({@link ForeignLine}) never sees it. The same commands, registered in scope {@code gogo}
 * with a higher ranking, win Gogo's look-up; what they do is Gogo's, only a failure's words are ours.
 */
final class WordedPosix extends Posix {
    /** The commands of Gogo's {@code Posix} this shell answers for ({@code ttop} too where JLine has it). */
    static final List<String> FUNCTIONS = List.of("cat", "echo", "grep", "sort", "sleep", "cd", "pwd", "ls", "less",
            "watch", "nano", "tmux", "head", "tail", "clear", "wc", "date");

    private WordedPosix(CommandProcessor processor) {
        super(processor);
    }

    /**
     * Registers the commands in {@code context}, or returns null when there is no command processor (no Gogo: no
     * shell to answer for).
     */
    static ServiceRegistration<?> register(BundleContext context) {
        ServiceReference<CommandProcessor> ref = context.getServiceReference(CommandProcessor.class);
        CommandProcessor processor = ref == null ? null : context.getService(ref);
        if (processor == null)
            return null;
        Hashtable<String, Object> props = new Hashtable<>();
        props.put(CommandProcessor.COMMAND_SCOPE, "gogo");
        List<String> functions = new ArrayList<>(FUNCTIONS);
        if (hasTtop())
            functions.add("ttop");
        props.put(CommandProcessor.COMMAND_FUNCTION, functions.toArray(String[]::new));
        props.put(Constants.SERVICE_RANKING, 1); // Gogo's own are registered without one (0)
        return context.registerService(Object.class, new WordedPosix(processor), props);
    }

    private static boolean hasTtop() {
        try {
            Class.forName("org.jline.builtins.TTop", false, Posix.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /**
     * Gogo's {@code ls}, which takes its operands for patterns and lists nothing for one that matches no file; here
     * a plain path (no {@code * ? [ {}) that names no file is said, as POSIX {@code ls} says it, and the others are
     * listed. {@code argv[0]} is the command's name.
     */
    @Override
    protected void ls(CommandSession session, Process process, String[] argv) throws Exception {
        List<String> kept = new ArrayList<>();
        int operands = 0, missing = 0;
        boolean optionsEnd = false;
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            boolean operand = i > 0 && (optionsEnd || !a.startsWith("-") || a.length() == 1);
            optionsEnd |= i > 0 && a.equals("--");
            if (operand) {
                operands++;
                if (isPlainPath(a) && !Files.exists(session.currentDir().resolve(a), LinkOption.NOFOLLOW_LINKS)) {
                    process.err().println("ls: " + a + " (No such file or directory)");
                    missing++;
                    continue;
                }
            }
            kept.add(a);
        }
        if (operands == 0 || missing < operands) // with every operand missing, Gogo's ls would list the directory
            super.ls(session, process, kept.toArray(String[]::new));
        if (missing > 0)
            process.error(2);
    }

    private static boolean isPlainPath(String operand) {
        return operand.chars().noneMatch(c -> "*?[{".indexOf(c) >= 0);
    }

    /**
     * The command as Gogo calls it: a glob that matches more than one file ({@code grep x /tmp/*.log}) arrives as
     * one list argument, which Gogo would turn into one string ({@code ["/tmp/a.log" "/tmp/b.log"]}) naming no
     * file; here each match is a word of its own, as a POSIX shell passes them.
     */
    public void _main(CommandSession session, Object[] argv) {
        _main(session, words(argv));
    }

    /** {@code argv} as words: a collection's elements each a word, anything else its string. */
    static String[] words(Object[] argv) {
        if (argv == null)
            return null;
        List<String> words = new ArrayList<>(argv.length);
        for (Object a : argv) {
            if (a instanceof Collection<?> many)
                for (Object one : many)
                    words.add(String.valueOf(one));
            else
                words.add(String.valueOf(a));
        }
        return words.toArray(String[]::new);
    }

    /** Runs {@code argv[0]} as Gogo would; a failure prints what {@link ForeignLine#explain} words for it. */
    @Override
    public void _main(CommandSession session, String[] argv) {
        if (argv == null || argv.length == 0)
            throw new IllegalArgumentException("no command given");
        Process process = Process.Utils.current();
        try {
            run(session, process, argv);
        } catch (HelpException usage) {
            process.err().println(usage.getMessage());
            process.error(0);
        } catch (IllegalArgumentException badUse) { // Gogo's usage lines, already in words
            process.err().println(badUse.getMessage());
            process.error(2);
        } catch (Exception e) {
            process.err().println(ForeignLine.explain(argv[0], e));
            process.error(1);
        }
    }
}
