package org.tdplab.backend.tdx.kvm;

/**
 * Number option values as the scenario language writes them: decimal or {@code 0x} hex, an optional binary suffix
 * {@code K M G T}, and {@code |} joining parts that are ORed.
 */
final class Numbers {
    private Numbers() {
    }

    /** @throws NumberFormatException for anything else (negative, empty, stray characters, beyond 64 bits) */
    static long parse(String text) {
        if (text == null || text.isEmpty())
            throw new NumberFormatException("empty number");
        long value = 0;
        for (String part : text.split("\\|", -1)) {
            if (part.isEmpty())
                throw new NumberFormatException(text);
            int shift = switch (Character.toUpperCase(part.charAt(part.length() - 1))) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> 0;
            };
            String body = shift == 0 ? part : part.substring(0, part.length() - 1);
            int radix = 10;
            if (body.length() > 2 && (body.startsWith("0x") || body.startsWith("0X"))) {
                radix = 16;
                body = body.substring(2);
            }
            if (body.isEmpty() || body.charAt(0) == '-' || body.charAt(0) == '+')
                throw new NumberFormatException(text);
            long v = Long.parseUnsignedLong(body, radix);
            if (shift > 0 && (v >>> (64 - shift)) != 0)
                throw new NumberFormatException(text);
            value |= v << shift;
        }
        return value;
    }
}
