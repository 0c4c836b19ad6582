package org.tdplab.backend.snp.kvm;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * Numbers in option values: decimal or {@code 0x} hex, with an optional binary suffix {@code K M G T} (never a
 * hex digit, so there is no ambiguity).
 */
final class Numbers {
    private Numbers() {
    }

    static long parse(String key, String value) {
        String v = value == null ? "" : value.trim();
        int shift = v.isEmpty() ? 0 : switch (Character.toUpperCase(v.charAt(v.length() - 1))) {
        case 'K' -> 10;
        case 'M' -> 20;
        case 'G' -> 30;
        case 'T' -> 40;
        default -> 0;
        };
        if (shift != 0)
            v = v.substring(0, v.length() - 1);
        try {
            boolean hex = v.startsWith("0x") || v.startsWith("0X");
            long n = hex ? Long.parseUnsignedLong(v.substring(2), 16) : Long.parseUnsignedLong(v);
            if (shift != 0 && Long.numberOfLeadingZeros(n) <= shift)
                throw new NumberFormatException();
            return n << shift;
        } catch (NumberFormatException e) {
            throw new MmuException(Errno.EINVAL, "%s=%s is not a number", key, value);
        }
    }
}
