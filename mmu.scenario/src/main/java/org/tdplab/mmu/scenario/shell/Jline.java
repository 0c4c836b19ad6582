package org.tdplab.mmu.scenario.shell;

import java.util.List;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.jline.reader.Candidate;
import org.jline.reader.ParsedLine;
import org.jline.reader.Parser;
import org.jline.reader.SyntaxError;
import org.jline.reader.impl.LineReaderImpl;
import org.jline.terminal.Terminal;

/**
 * The bridge to JLine, the terminal and line reader of Gogo's interactive shell: Tab's candidates, and Ctrl-C for a
 * running command. Only the interactive shell loads this class, so the bundle runs without JLine elsewhere (its
 * imports are optional).
 */
final class Jline {
    private Jline() {
    }

    /** Candidates for {@code line} (a JLine {@link ParsedLine}); none when it is not one. */
    static List<Candidate> complete(Object line, Completion completion) {
        if (!(line instanceof ParsedLine l) || l.wordIndex() < 1 || l.words().isEmpty())
            return List.of();
        String command = l.words().get(0);
        command = command.substring(command.indexOf(':') + 1);
        List<String> before = l.words().subList(1, Math.min(l.wordIndex(), l.words().size()));
        String current = l.word().substring(0, Math.min(l.wordCursor(), l.word().length()));
        return completion.complete(command, before, current).stream()
                .map(c -> new Candidate(c.value(), c.value(), null, shorten(c.description()), null, null,
                        c.complete()))
                .toList();
    }

    private static String shorten(String s) {
        return s == null || s.length() <= 60 ? s : s.substring(0, 59) + "…";
    }

    /**
     * Runs {@code body} with Ctrl-C ({@code SIGINT} on {@code terminal}) calling {@code request}; Gogo's own handler
     * would interrupt the command's thread (see {@link org.tdplab.mmu.scenario.run.Interruption} for why that must
     * not happen) and abandon the command. The previous handler is back afterwards.
     */
    static <T> T onInterrupt(Object terminal, Runnable request, Supplier<T> body) {
        if (!(terminal instanceof Terminal t))
            return body.get();
        Terminal.SignalHandler previous = t.handle(Terminal.Signal.INT, s -> request.run());
        try {
            return body.get();
        } finally {
            t.handle(Terminal.Signal.INT, previous);
        }
    }

    /**
     * Has {@code reader} (the shell's JLine line reader) run a line whose first word is the quoted name of one of
     * {@code ours} as that command ({@link QuotedName}), and a line whose first word is neither one of {@code ours}
     * nor {@code direct} as {@code wrapper}, after handing the line to {@code foreign} ({@link ForeignLine}). Tab and
     * the other parses see the line as typed.
     */
    static void acceptLines(Object reader, Predicate<String> ours, Predicate<String> direct, Consumer<String> foreign,
            String wrapper) {
        if (reader instanceof LineReaderImpl r && !(r.getParser() instanceof Accepting))
            r.setParser(new Accepting(r.getParser(), ours, ours.or(direct), foreign, wrapper));
    }

    /** Gogo's parser, given the accepted line with {@link QuotedName}'s and {@link ForeignLine}'s changes. */
    private record Accepting(Parser gogo, Predicate<String> ours, Predicate<String> direct, Consumer<String> foreign,
            String wrapper) implements Parser {
        @Override
        public ParsedLine parse(String line, int cursor, ParseContext context) throws SyntaxError {
            if (context != ParseContext.ACCEPT_LINE)
                return gogo.parse(line, cursor, context);
            String unquoted = QuotedName.unquote(line, ours);
            String text = unquoted == null ? line : unquoted;
            ParsedLine parsed = gogo.parse(text, Math.max(0, cursor - (line.length() - text.length())), context);
            if (!ForeignLine.isForeign(text, direct))
                return parsed;
            foreign.accept(text);
            return gogo.parse(wrapper, wrapper.length(), context);
        }

        @Override
        public boolean isEscapeChar(char ch) {
            return gogo.isEscapeChar(ch);
        }
    }
}
