package org.tdplab.bench;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;

/**
 * Whether the JIT compiler worked since a mark: its total compilation time (milliseconds, every compiler thread)
 * moved. A warm-up that stops while it still works times code that is being replaced.
 */
final class Jit {
    private static final CompilationMXBean JIT = ManagementFactory.getCompilationMXBean();
    private static long marked = -1;

    private Jit() {
    }

    /** One round of shots, which may be interrupted. */
    interface Round {
        void run() throws InterruptedException;
    }

    /**
     * Runs {@code round} at least {@code min} times, then again until one passes with the compiler quiet, at most
     * {@code max} times in all. Returns the rounds run; {@link #compiledSince} then says whether the last one was
     * quiet.
     */
    static int untilQuiet(int min, int max, Round round) throws InterruptedException {
        int rounds = 0;
        while (rounds < min || rounds > 0 && rounds < max && compiledSince()) {
            mark();
            round.run();
            rounds++;
        }
        return rounds;
    }

    /** Marks now. */
    static void mark() {
        marked = total();
    }

    /** Whether the compiler worked since {@link #mark} (true without a mark, or when the JVM does not say). */
    static boolean compiledSince() {
        return marked < 0 || total() != marked;
    }

    private static long total() {
        return JIT != null && JIT.isCompilationTimeMonitoringSupported() ? JIT.getTotalCompilationTime() : -1;
    }
}
