package org.tdplab.mmu.scenario.lang;

/**
 * Number tokens: decimal ({@code 4096}) or hex ({@code 0x1000}, {@code 0X1F}, digits of either case), each with an
 * optional binary suffix {@code K M G T} (either case; {@code 2M} = 0x200000, {@code 0x2M} = 0x200000), and
 * {@code |} joining parts that are ORed ({@code 0x800000000000|0x1000}). Values are unsigned 64-bit, held in a
 * {@code long}; anything beyond 64 bits, a negative number, an empty part or a stray character is an error.
 */
public final class Numbers {
    private Numbers() {
    }

    /**
     * Parses a number token.
     *
     * @throws NumberFormatException with a message naming the text (e.g. {@code bad number '0xZZ'})
     */
    public static long parse(String text) {
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

    /** Whether {@code text} is a well-formed number token. */
    public static boolean isNumber(String text) {
        try {
            parse(text);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** {@code 0x…} in lower case, the form reports use for addresses. */
    public static String hex(long value) {
        return "0x" + Long.toHexString(value);
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
        long v;
        if (radix == 16 && body.length() > 16)
            throw overflow(whole);
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
}
