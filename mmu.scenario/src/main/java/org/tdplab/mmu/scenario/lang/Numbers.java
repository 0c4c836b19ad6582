package org.tdplab.mmu.scenario.lang;

import java.util.List;

import org.tdplab.mmu.api.backend.VerbOption;

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
        return (Long) VerbOption.Type.NUMBER.parse(text, List.of()); // the API's parser: one for every caller
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
}
