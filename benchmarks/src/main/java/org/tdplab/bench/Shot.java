package org.tdplab.bench;

/**
 * One fault shot on a fresh guest, the unit {@link Against} compares builds by. It is public and static because it
 * is called by reflection, once per build, from the class loader {@link Against} gives that build: this class,
 * {@link Guest}, {@link Order} and {@link Cpu} are defined there from this build's bytes, everything else comes from
 * the build being measured, so both builds run the same harness code against their own model.
 */
public final class Shot {
    private Shot() {
    }

    /** Faults every page of a fresh {@code type} guest of {@code mib} by {@code how}: CPU + GC ns per page. */
    public static double fault(String type, long mib, String order, String how) {
        long pages = (mib << 20) / Guest.PAGE;
        try (Guest g = Guest.create(type, mib << 20, 1)) {
            Order o = Order.of(order, pages);
            long t0 = Cpu.now();
            long n = g.fault(how, o, 0, 0, pages);
            return (double) (Cpu.now() - t0) / n;
        }
    }
}
