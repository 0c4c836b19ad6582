package org.tdplab.mmu.scenario.shell;

import java.util.function.Predicate;

/**
 * A command line whose first word is quoted ({@code "guest" vm …}, {@code 'zap' vm …}): a POSIX shell runs the
 * command the quoted word names, but Gogo takes a quoted first word for an object and the next word for a method to
 * call on it, and answers with Java's words ({@code Cannot coerce …}). For the names of tdplab's commands and
 * statements the line is run as a shell would run it; other quoted words keep Gogo's meaning.
 */
final class QuotedName {
    private QuotedName() {
    }

    /**
     * {@code line} with the quotes around its first word taken off when that word, unquoted, is one {@code ours}
     * names (with or without its {@code mmu:} scope); null when the line stays as it is.
     */
    static String unquote(String line, Predicate<String> ours) {
        int start = 0;
        while (start < line.length() && Character.isWhitespace(line.charAt(start)))
            start++;
        if (start == line.length())
            return null;
        char quote = line.charAt(start);
        if (quote != '"' && quote != '\'')
            return null;
        int end = line.indexOf(quote, start + 1);
        if (end < 0 || end + 1 < line.length() && !Character.isWhitespace(line.charAt(end + 1)))
            return null; // unclosed, or the quoted part runs on into the word ("a"b)
        String name = line.substring(start + 1, end);
        if (name.isEmpty() || name.chars().anyMatch(c -> Character.isWhitespace(c) || c == '\\' || c == '$'))
            return null;
        if (!ours.test(name.startsWith("mmu:") ? name.substring(4) : name))
            return null;
        return line.substring(0, start) + name + line.substring(end + 1);
    }
}
