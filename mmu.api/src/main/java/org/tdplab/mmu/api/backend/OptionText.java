package org.tdplab.mmu.api.backend;

import java.util.List;

/** The text forms of option values that {@link VerbOption.Type#parse} reads: one parser for every caller. */
final class OptionText {
    /** Levels 1, 2, 3 as the language writes them. */
    static final List<String> LEVELS = List.of("4K", "2M", "1G");

    private OptionText() {
    }

    /** {@code a}, {@code a or b}, {@code a, b or c}. */
    static String either(List<String> words) {
        if (words.size() <= 1)
            return String.join("", words);
        return String.join(", ", words.subList(0, words.size() - 1)) + " or " + words.get(words.size() - 1);
    }

    /**
     * Decimal ({@code 4096}) or hex ({@code 0x1000}), each part with an optional binary suffix {@code K M G T} (either
     * case), {@code |} joining parts that are ORed; unsigned 64-bit.
     *
     * @throws NumberFormatException naming the text: {@code bad number '0xZZ'}, a negative number, an empty part, or
     *     one beyond 64 bits
     */
    static long number(String text) {
        if (text.isEmpty())
            throw new NumberFormatException("empty number");
        long value = 0;
        for (String part : text.split("\\|", -1)) {
            if (part.isEmpty())
                throw new NumberFormatException("bad number '" + text + "' (empty part around '|')");
            value |= part(part, text);
        }
        return value;
    }

    private static long part(String part, String whole) {
        if (part.charAt(0) == '-')
            throw new NumberFormatException("negative number '" + whole + "' (numbers are unsigned)");
        int shift = switch (part.charAt(part.length() - 1)) {
        case 'K', 'k' -> 10;
        case 'M', 'm' -> 20;
        case 'G', 'g' -> 30;
        case 'T', 't' -> 40;
        default -> 0;
        };
        String body = shift == 0 ? part : part.substring(0, part.length() - 1);
        int radix = 10;
        if (body.length() >= 2 && body.charAt(0) == '0' && (body.charAt(1) == 'x' || body.charAt(1) == 'X')) {
            radix = 16;
            body = body.substring(2);
        }
        if (body.isEmpty())
            throw bad(whole);
        for (int i = 0; i < body.length(); i++)
            if (Character.digit(body.charAt(i), radix) < 0 || body.charAt(i) > 'f')
                throw bad(whole);
        int nz = 0;
        while (nz < body.length() - 1 && body.charAt(nz) == '0')
            nz++;
        body = body.substring(nz);
        if (radix == 16 && body.length() > 16)
            throw overflow(whole);
        long v;
        try {
            v = Long.parseUnsignedLong(body, radix);
        } catch (NumberFormatException e) {
            throw overflow(whole); // every character is a digit, so only the range can be wrong
        }
        if (shift > 0 && (v >>> (64 - shift)) != 0)
            throw overflow(whole);
        return v << shift;
    }

    private static NumberFormatException bad(String whole) {
        return new NumberFormatException("bad number '" + whole + "'");
    }

    private static NumberFormatException overflow(String whole) {
        return new NumberFormatException("number '" + whole + "' does not fit in 64 bits");
    }

    /** {@code 4K}, {@code 2M}, {@code 1G} (among {@code choices} when given) as level 1, 2, 3; null otherwise. */
    static Integer level(String text, List<String> choices) {
        int i = LEVELS.indexOf(text);
        if (i < 0 || (!choices.isEmpty() && !choices.contains(text)))
            return null;
        return i + 1;
    }

    /** A finite decimal fraction; null otherwise. */
    static Double decimal(String text) {
        if (text.isEmpty() || !text.matches("-?[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?"))
            return null;
        return Double.valueOf(text);
    }
}
