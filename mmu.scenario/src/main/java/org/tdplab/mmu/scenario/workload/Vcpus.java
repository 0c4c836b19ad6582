package org.tdplab.mmu.scenario.workload;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.scenario.run.Interruption;
import org.tdplab.mmu.scenario.run.Progress;

/** Runs one phase of a workload: one thread per vCPU, all started together; returns each vCPU's time in ns. */
final class Vcpus {
    /** What one vCPU does in a phase; returns the pages it touched. */
    interface Task {
        long run(int vcpu);
    }

    /**
     * Per-vCPU nanoseconds and pages of a phase, its wall time, and the time the JIT compiler spent meanwhile (its
     * threads run beside the vCPUs': a phase early in a process runs partly interpreted).
     */
    record Phase(String name, long[] nanos, long[] pages, long wallNanos, long jitMillis) {
        long totalPages() {
            long n = 0;
            for (long p : pages)
                n += p;
            return n;
        }
    }

    private Vcpus() {
    }

    static Phase run(String name, int vcpus, Task task) {
        return run(name, vcpus, task, null);
    }

    /** Runs the vCPU threads, and {@code host} on the calling thread while they run (null: none). */
    static Phase run(String name, int vcpus, Task task, Runnable host) {
        long[] nanos = new long[vcpus], pages = new long[vcpus];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicBoolean stop = new AtomicBoolean(Interruption.requested());
        Thread[] threads = new Thread[vcpus];
        Progress.phase(label(name));
        long jit0 = jitMillis();
        long start = System.nanoTime();
        for (int i = 0; i < vcpus; i++) {
            int vcpu = i;
            threads[i] = new Thread(() -> {
                STOP.set(stop);
                long t0 = System.nanoTime();
                try {
                    pages[vcpu] = task.run(vcpu);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    stop.set(true); // as a selftest's failed assert ends the test: the others stop too
                }
                nanos[vcpu] = System.nanoTime() - t0;
            }, "vcpu-" + vcpu + "-" + name);
            threads[i].start();
        }
        try {
            if (host != null) {
                STOP.set(stop); // the host's loop stops too, on Ctrl-C or a vCPU's failure
                host.run();
            }
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        } finally {
            STOP.remove();
            join(threads, stop);
        }
        long wall = System.nanoTime() - start;
        Throwable e = failure.get();
        if (e instanceof MmuException m)
            throw m;
        if (e instanceof RuntimeException r)
            throw r;
        if (e instanceof Error err)
            throw err;
        return new Phase(name, nanos, pages, wall, jitMillis() - jit0);
    }

    /** The phase as the progress line names it: {@code dirty-2} is {@code iteration 2: dirty}. */
    static String label(String name) {
        int dash = name.lastIndexOf('-');
        if (dash > 0 && name.substring(dash + 1).chars().allMatch(Character::isDigit))
            return "iteration " + name.substring(dash + 1) + ": " + name.substring(0, dash);
        return name.replace('-', ' ');
    }

    /** Milliseconds the JIT compiler has worked in this process (0 where the JVM does not say). */
    static long jitMillis() {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : 0;
    }

    /** The stop flag of the phase this vCPU thread runs in. */
    private static final ThreadLocal<AtomicBoolean> STOP = new ThreadLocal<>();

    /**
     * Whether this vCPU's (or the host loop's) phase should end early: the statement's thread was interrupted (Ctrl-C
     * in the shell) or a vCPU failed, so the others stop at their next check and the workload ends with what ran.
     */
    static boolean stopping() {
        AtomicBoolean s = STOP.get();
        if (s != null && !s.get() && Interruption.requested()) // the host's own thread, asked to stop
            s.set(true);
        return s != null && s.get();
    }

    /** Waits for the vCPUs; a stop request meanwhile tells them to stop, and stays for the caller to see. */
    private static void join(Thread[] threads, AtomicBoolean stop) {
        for (Thread t : threads)
            Interruption.join(t, () -> stop.set(true));
    }
}
