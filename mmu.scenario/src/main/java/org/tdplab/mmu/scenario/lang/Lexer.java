package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a file into lines and tokens. One statement per line ({@code \n} or {@code \r\n}); {@code #} starts a
 * comment anywhere on a line; tokens are separated by spaces and tabs; a line with no token is skipped. Any other
 * white-space or control character is an error (then treated as a separator so the rest of the line is still
 * checked). A UTF-8 byte order mark at the start of the file is ignored. Columns count characters from 1.
 */
public final class Lexer {
    private Lexer() {
    }

    /**
     * A line with at least one token; {@code source} is the text before any comment, without surrounding blanks;
     * {@code commentColumn} is the column of its {@code #}, 0 without a comment.
     */
    public record Line(int number, String source, List<Token> tokens, int commentColumn) {
        public Line {
            tokens = List.copyOf(tokens);
        }
    }

    /** The non-empty lines of {@code text}; lexical errors are added to {@code errors}. */
    public static List<Line> lex(String file, String text, List<ParseException> errors) {
        List<Line> lines = new ArrayList<>();
        int number = 0;
        int start = 0;
        while (start <= text.length()) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl;
            number++;
            String raw = text.substring(start, end);
            if (raw.endsWith("\r"))
                raw = raw.substring(0, raw.length() - 1);
            if (number == 1 && raw.startsWith("\uFEFF"))
                raw = raw.substring(1); // columns count from after the mark
            Line l = line(file, number, raw, errors);
            if (l != null)
                lines.add(l);
            if (nl < 0)
                break;
            start = nl + 1;
        }
        return lines;
    }

    private static Line line(String file, int number, String raw, List<ParseException> errors) {
        int hash = raw.indexOf('#');
        String code = hash < 0 ? raw : raw.substring(0, hash);
        List<Token> tokens = new ArrayList<>();
        int i = 0;
        int n = code.length();
        while (i < n) {
            char c = code.charAt(i);
            if (c == ' ' || c == '\t') {
                i++;
                continue;
            }
            if (isStray(c)) {
                errors.add(new ParseException(file, number, i + 1, String.format(
                        "unexpected character U+%04X (tokens are separated by spaces or tabs)", (int) c)));
                i++;
                continue;
            }
            int s = i;
            while (i < n && code.charAt(i) != ' ' && code.charAt(i) != '\t' && !isStray(code.charAt(i)))
                i++;
            tokens.add(new Token(code.substring(s, i), number, s + 1));
        }
        if (tokens.isEmpty())
            return null;
        return new Line(number, code.strip(), tokens, hash < 0 ? 0 : hash + 1);
    }

    private static boolean isStray(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || Character.isISOControl(c)
                || c == '\uFEFF' || c == '\u200B';
    }
}
