package org.tdplab.bench;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cost of one shot: the CPU time of the shot's thread (nanosecond clock) plus the collector's pauses meanwhile
 * (the work the shot's garbage made). On a machine shared with other work the wall clock also counts the time the
 * shot waited for a core; this does not, so the model and the floor are compared by what they cost, not by what the
 * neighbours did meanwhile. Every shot is recorded under its key; the table takes the best.
 */
final class Cpu {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final List<GarbageCollectorMXBean> GC = ManagementFactory.getGarbageCollectorMXBeans();
    private static final Map<String, Double> BEST = new ConcurrentHashMap<>();

    static { // blocked and waited times, for busyNow
        if (THREADS.isThreadContentionMonitoringSupported())
            THREADS.setThreadContentionMonitoringEnabled(true);
    }

    private Cpu() {
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    /**
     * The whole process's CPU time, for a shot that runs threads of its own (a workload's vCPU threads): it counts
     * every thread, the collector's too, but the kernel keeps it in clock ticks (often 10 ms), so only long shots.
     */
    static long processNow() {
        return OS.getProcessCpuTime();
    }

    static void recordProcess(String key, long since) {
        BEST.merge(key, (double) (processNow() - since), Math::min);
    }

    /** This thread's CPU time so far, in nanoseconds. */
    static long cpuNow() {
        return THREADS.getCurrentThreadCpuTime();
    }

    /** This thread's CPU time plus the collectors' pause time so far, in nanoseconds. */
    static long now() {
        return THREADS.getCurrentThreadCpuTime() + gcNanos();
    }

    /** The collectors' pause time so far, in nanoseconds (kept in milliseconds). */
    static long gcNanos() {
        long gcMillis = 0;
        for (GarbageCollectorMXBean gc : GC)
            gcMillis += Math.max(0, gc.getCollectionTime());
        return gcMillis * 1_000_000;
    }

    /**
     * This thread's CPU time plus the time it spent blocked on a monitor or parked (a lock's wait), so far, in
     * nanoseconds: what the thread would take with a core of its own. The time it waited for a core is not in it,
     * a wait for another thread is (kept in milliseconds).
     */
    static long busyNow() {
        java.lang.management.ThreadInfo info = THREADS.getThreadInfo(Thread.currentThread().getId());
        long waitedMillis = Math.max(0, info.getBlockedTime()) + Math.max(0, info.getWaitedTime());
        return THREADS.getCurrentThreadCpuTime() + waitedMillis * 1_000_000;
    }

    static void record(String key, long since) {
        double ns = now() - since;
        BEST.merge(key, ns, Math::min);
    }

    /** The best shot recorded under {@code key}, in nanoseconds, or NaN. */
    static double best(String key) {
        return BEST.getOrDefault(key, Double.NaN);
    }

    static String key(Object... parts) {
        StringBuilder b = new StringBuilder();
        for (Object p : parts)
            b.append(p).append(' ');
        return b.toString().strip();
    }
}
