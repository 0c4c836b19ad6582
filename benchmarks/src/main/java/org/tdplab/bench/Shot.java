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

    /** The {@code how} of two vCPU threads faulting by write at once, each its half of the guest. */
    static final String TWO_THREADS = "write-2-threads";
    /** The {@code how} of reads of a guest mapped (written, or accepted) before the shot: walks, no fault. */
    static final String READ = "read";
    /**
     * The {@code how}s that are range operations over a guest mapped before the shot ({@link Guest#rangeOp}), timed
     * per 4K SPTE, as the suite's range rows are: a guest whose memory the host can log dirty (not guest_memfd's).
     */
    static final java.util.List<String> RANGE_OPS = java.util.List.of("zap", "wp", "clear_dirty", "age", "split",
            "recover");
    /** The VM types a range operation's shot can run on: guests without private memory. */
    static final java.util.List<String> RANGE_TYPES = java.util.List.of("default", "sw_protected");

    /**
     * Faults every page of a fresh {@code type} guest of {@code mib} by {@code how}: CPU + GC ns per page. With
     * {@link #TWO_THREADS}, vCPU 0 and vCPU 1 fault the two halves at once, and the CPU time is both threads'; with
     * {@link #READ}, the pages are faulted first and the shot reads them; with one of {@link #RANGE_OPS}, the pages
     * are mapped first and the shot is that operation over all of them (CPU + GC ns per 4K SPTE; {@code order}
     * unused: a range operation walks in table order).
     */
    public static double fault(String type, long mib, String order, String how) throws InterruptedException {
        long pages = (mib << 20) / Guest.PAGE;
        if (RANGE_OPS.contains(how))
            return rangeOp(type, mib, how, pages);
        if (how.equals(TWO_THREADS))
            return twoThreads(type, mib, order, pages);
        try (Guest g = Guest.create(type, mib << 20, 1)) {
            Order o = Order.of(order, pages);
            if (how.equals(READ))
                g.fault("write", o, 0, 0, pages);
            long t0 = Cpu.now();
            long n = how.equals(READ) ? g.read(o, 0, 0, pages) : g.fault(how, o, 0, 0, pages);
            return (double) (Cpu.now() - t0) / n;
        }
    }

    private static double rangeOp(String type, long mib, String op, long pages) {
        try (Guest g = Guest.create(type, mib << 20, 1, Guest.rangeBacking(op))) {
            g.prepareRange(op);
            long t0 = Cpu.now();
            g.rangeOp(op);
            return (double) (Cpu.now() - t0) / pages;
        }
    }

    private static double twoThreads(String type, long mib, String order, long pages) throws InterruptedException {
        long half = pages / 2;
        long[] cpu = new long[2];
        Throwable[] failed = new Throwable[1];
        try (Guest g = Guest.create(type, mib << 20, 2)) {
            Thread[] t = new Thread[2];
            for (int v = 0; v < 2; v++) {
                int vcpu = v;
                t[v] = new Thread(() -> {
                    long t0 = Cpu.cpuNow();
                    try {
                        g.fault("write", Order.of(order, half), vcpu, vcpu * half, half);
                    } catch (RuntimeException | Error e) {
                        failed[0] = e;
                    }
                    cpu[vcpu] = Cpu.cpuNow() - t0;
                }, "shot-vcpu" + v);
            }
            long gc = Cpu.gcNanos();
            for (Thread x : t)
                x.start();
            for (Thread x : t)
                x.join();
            if (failed[0] instanceof RuntimeException e)
                throw e;
            if (failed[0] instanceof Error e)
                throw e;
            return (double) (cpu[0] + cpu[1] + Cpu.gcNanos() - gc) / (2 * half);
        }
    }
}
