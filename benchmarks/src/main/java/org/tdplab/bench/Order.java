package org.tdplab.bench;

/**
 * The order pages are first touched in: sequential, or a fixed pseudo-random permutation (odd multiplications and
 * xor-shifts modulo a power of two, each a bijection, then cycle-walking down to the page count). The model and the
 * floor of one figure use the same order.
 */
final class Order {
    private final long n;
    private final boolean random;
    private final int bits;
    private final long mask;

    Order(long n, boolean random) {
        this.n = n;
        this.random = random;
        this.bits = Math.max(2, 64 - Long.numberOfLeadingZeros(Math.max(1, n - 1)));
        this.mask = bits == 64 ? -1 : (1L << bits) - 1;
    }

    static Order of(String name, long n) {
        return switch (name) {
        case "seq" -> new Order(n, false);
        case "random" -> new Order(n, true);
        default -> throw new IllegalArgumentException("order=" + name + " (seq or random)");
        };
    }

    boolean random() {
        return random;
    }

    long size() {
        return n;
    }

    /** The {@code i}-th page touched. */
    long page(long i) {
        if (!random)
            return i;
        long x = i;
        do
            x = mix(x);
        while (x >= n);
        return x;
    }

    private long mix(long x) {
        int half = bits / 2;
        x = (x * 0x9E3779B97F4A7C15L) & mask;
        x ^= x >>> half;
        x = (x * 0xC2B2AE3D27D4EB4FL) & mask;
        x ^= x >>> (half + 1);
        x = (x * 0x165667B19E3779F9L) & mask;
        return x ^ (x >>> half);
    }
}
