package org.tdplab.mmu.scenario.lang;

import java.util.Optional;

/** A mapping level, written in scenarios as its page size: {@code 4K}, {@code 2M}, {@code 1G}. */
public enum Level {
    L4K(1, 1L << 12, "4K"), L2M(2, 1L << 21, "2M"), L1G(3, 1L << 30, "1G");

    private final int number;
    private final long bytes;
    private final String text;

    Level(int number, long bytes, String text) {
        this.number = number;
        this.bytes = bytes;
        this.text = text;
    }

    /** The kernel's level number: 1 for 4K ({@code PG_LEVEL_4K}), 2 for 2M, 3 for 1G. */
    public int number() {
        return number;
    }

    /** The page size in bytes. */
    public long bytes() {
        return bytes;
    }

    /** The level whose page size is {@code bytes}, if any. */
    public static Optional<Level> ofBytes(long bytes) {
        for (Level l : values())
            if (l.bytes == bytes)
                return Optional.of(l);
        return Optional.empty();
    }

    /** {@code 4K}, {@code 2M} or {@code 1G}. */
    @Override
    public String toString() {
        return text;
    }
}
