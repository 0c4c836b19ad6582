package org.tdplab.mmu.scenario.workload;

/**
 * The order a vCPU visits the pages of its partition: sequential, or a pseudo-random permutation
 * {@code i -> (i * stride + offset) mod n} with a stride coprime to {@code n}, so nothing is allocated per page.
 */
final class Order {
    private final long n, stride, offset;

    private Order(long n, long stride, long offset) {
        this.n = n;
        this.stride = stride;
        this.offset = offset;
    }

    static Order sequential(long n) {
        return new Order(n, 1, 0);
    }

    static Order random(long n, long seed) {
        if (n <= 1)
            return sequential(n);
        long mix = seed * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        long stride = Math.floorMod(mix, n - 1) + 1;
        while (gcd(stride, n) != 1)
            stride = stride % (n - 1) + 1;
        return new Order(n, stride, Math.floorMod(mix >>> 17, n));
    }

    long size() {
        return n;
    }

    /** The page index visited {@code i}-th ({@code n} is below 2^31, so the product fits a long). */
    long page(long i) {
        return (i * stride + offset) % n;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
