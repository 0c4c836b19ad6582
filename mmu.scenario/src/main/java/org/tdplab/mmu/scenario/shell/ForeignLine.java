package org.tdplab.mmu.scenario.shell;

import java.lang.reflect.InvocationTargetException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A typed line whose first word is no tdplab command: a framework command ({@code cat}, {@code lb}), a variable
 * ({@code $x …}), a group ({@code (…) …}) or a quoted value. Gogo's shell prints what such a line throws as the Java
 * exception's {@code toString()} ({@code java.lang.IllegalArgumentException: Cannot coerce v() to any of []}), with
 * no hook to change it; so the shell runs such a line inside {@code mmu:__line}, which answers a failure in words.
 * Lines that start with a tdplab command or statement run as typed: they answer their own errors, and Ctrl-C reaches
 * them as it always did.
 */
final class ForeignLine {
    private static final Set<String> JOB_CONTROL = Set.of("jobs", "fg", "bg", "gogo:jobs", "gogo:fg", "gogo:bg");
    private static final Pattern NULL_COMMAND = Pattern.compile("Command name evaluates to null: (.*)");
    private static final Pattern NO_METHOD = Pattern.compile("Cannot coerce ([^(]*)\\(.*\\) to any of \\[(.*)]");
    private static final Pattern JAVA_NAME = Pattern.compile(
            "\\b([a-z][a-z0-9_]*\\.)+[A-Z][A-Za-z0-9_$]*(Exception|Error)\\b(: )?");

    private ForeignLine() {
    }

    /**
     * The line's first word as typed: up to a blank, {@code ;}, {@code |} or {@code &} outside brackets and quotes
     * ({@code (guest list)} is one word). Empty for a blank line.
     */
    static String firstWord(String line) {
        String s = line.strip();
        return s.substring(0, outside(s, " \t;|&"));
    }

    /**
     * Index of the first of {@code stops} (or a blank) outside brackets and quotes in {@code s}; its length if none.
     */
    private static int outside(String s, String stops) {
        int depth = 0;
        char quote = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if ("({[".indexOf(c) >= 0) {
                depth++;
            } else if (")}]".indexOf(c) >= 0) {
                depth = Math.max(0, depth - 1);
            } else if (depth == 0 && stops.indexOf(c) >= 0) {
                return i;
            }
        }
        return s.length();
    }

    /**
     * Whether {@code line} runs inside {@code mmu:__line}: its first word is none of {@code direct}'s (ours), and it
     * is no job control ({@code jobs}, {@code fg}, {@code bg}, a job sent to the background with {@code &}): a job
     * started inside another is its child, which Gogo's {@code jobs} and {@code fg} do not see.
     */
    static boolean isForeign(String line, Predicate<String> direct) {
        String first = firstWord(line);
        if (first.isEmpty() || first.startsWith("#") || JOB_CONTROL.contains(first)
                || outside(line.strip(), "&") < line.strip().length())
            return false;
        if ("$({[\"'".indexOf(first.charAt(0)) >= 0)
            return true;
        return !direct.test(first.startsWith("mmu:") ? first.substring(4) : first);
    }

    /**
     * What the shell prints for the value a line returned: a framework command's text with the names of Java
     * exception classes taken out (Gogo's {@code install} returns {@code java.net.MalformedURLException: unknown
     * protocol: x} as its answer). A value the line itself made ({@code $x}, a quoted string, a group) stays as is.
     */
    static Object tidyResult(String first, Object result) {
        if (!(result instanceof String text) || first.isEmpty() || "$({[\"'".indexOf(first.charAt(0)) >= 0)
            return result;
        return JAVA_NAME.matcher(text).replaceAll("");
    }

    /** What the shell says when {@code line}, whose first word is {@code first}, failed with {@code e}. */
    static String explain(String first, Throwable e) {
        Throwable t = e;
        while ((t instanceof InvocationTargetException || t.getMessage() == null) && t.getCause() != null)
            t = t.getCause();
        String message = t.getMessage() == null ? "" : t.getMessage().strip();
        Matcher m = NULL_COMMAND.matcher(message);
        if (m.matches())
            return "'" + m.group(1) + "' is not set, so the line names no command to run";
        m = NO_METHOD.matcher(message);
        if (m.matches() && !m.group(2).isEmpty()) // a command, whose forms take other arguments
            return first + ": the arguments fit none of its forms " + m.group(2).replaceAll("[a-z][a-z0-9_]*\\.", "")
                    + " (help " + first + " explains them)";
        if (m.matches())
            return "'" + first + "' is no command: the shell took it for a value and it has no method '" + m.group(1)
                    + "' taking these arguments (help lists the commands)";
        if (t instanceof FileSystemException f && f.getReason() == null && !message.isEmpty())
            return first + ": " + message + " (" + fileProblem(f) + ")"; // the path alone is the message
        String words = JAVA_NAME.matcher(message).replaceAll("").strip();
        return first + ": " + (words.isEmpty() ? "failed" : words);
    }

    /** What a file-system exception whose message is only the path says about it, as {@code strerror} would. */
    private static String fileProblem(FileSystemException f) {
        if (f instanceof NoSuchFileException)
            return "No such file or directory";
        if (f instanceof AccessDeniedException)
            return "Permission denied";
        if (f instanceof NotDirectoryException)
            return "Not a directory";
        if (f instanceof FileAlreadyExistsException)
            return "File exists";
        if (f instanceof DirectoryNotEmptyException)
            return "Directory not empty";
        return "cannot be used";
    }
}
