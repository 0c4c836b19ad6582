package org.tdplab.mmu.scenario.workload;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The lines a workload prints, in the selftests' words (times in seconds, rates in pages per second). */
public final class Report {
    private final List<String> lines = new ArrayList<>();

    public List<String> lines() {
        return List.copyOf(lines);
    }

    void line(String format, Object... args) {
        lines.add(String.format(Locale.ROOT, format, args));
    }

    static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%d.%09ds", nanos / 1_000_000_000L, nanos % 1_000_000_000L);
    }

    static long rate(long pages, long nanos) {
        return nanos <= 0 ? 0 : (long) (pages * 1e9 / nanos);
    }

    /** {@code NAME time: Ss}. */
    void time(String name, long nanos) {
        line("%s time: %s", name, seconds(nanos));
    }

    /** Each vCPU's time and rate, then the total and the overall rate, as demand_paging_test prints them. */
    void rates(Vcpus.Phase p, String what) {
        for (int v = 0; v < p.nanos().length; v++)
            line("vCPU %d: %d pages, execution time %s, %d pgs/s", v, p.pages()[v], seconds(p.nanos()[v]),
                    rate(p.pages()[v], p.nanos()[v]));
        line("Total guest execution time: %s", seconds(p.wallNanos()));
        line("Overall %s rate: %d pgs/s (%d pages)%s", what, rate(p.totalPages(), p.wallNanos()), p.totalPages(),
                warmUp(p));
    }

    /**
     * Says when a phase's rates include the JVM's warm-up: the JIT compiler worked for at least 5% of the phase's
     * time (on its own threads, beside the vCPUs'), so a later run of the same phase would be faster.
     */
    static String warmUp(Vcpus.Phase p) {
        if (p.jitMillis() * 1_000_000L * 20 < p.wallNanos() || p.jitMillis() == 0)
            return "";
        return String.format(Locale.ROOT, "; includes JIT warm-up: the JIT compilers worked %d ms during these %s",
                p.jitMillis(), seconds(p.wallNanos()));
    }
}
