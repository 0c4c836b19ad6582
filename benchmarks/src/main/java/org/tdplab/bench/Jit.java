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
