package org.tdplab.mmu.scenario.run;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * Ctrl-C in the shell as a request the command's thread polls at its boundaries (a statement, a workload's vCPU
 * check, a soak round), never as {@link Thread#interrupt()}: Gogo writes a command's output through an
 * interruptible NIO channel over the terminal, and an interrupt that lands during a write closes that channel and,
 * with it, the terminal's output stream, so the shell goes silent for good (not even its prompt comes back). A thread
 * interrupted by other means (a test, a caller outside the shell) counts as a request too.
 */
public final class Interruption {
    /** The request of the command running on this thread, set from the terminal's signal handler. */
    private static final ThreadLocal<AtomicBoolean> REQUEST = new ThreadLocal<>();
    /** How often a wait for other threads looks at the request. */
    private static final long POLL_MS = 20;

    private Interruption() {
    }

    /** Runs {@code body} on this thread with {@code request} as its stop request (what Ctrl-C sets). */
    public static <T> T during(AtomicBoolean request, Supplier<T> body) {
        AtomicBoolean outer = REQUEST.get();
        REQUEST.set(request);
        try {
            return body.get();
        } finally {
            if (outer == null)
                REQUEST.remove();
            else
                REQUEST.set(outer);
        }
    }

    /** Whether this thread's command was asked to stop; the request stays for the command's callers to see. */
    public static boolean requested() {
        AtomicBoolean r = REQUEST.get();
        return r != null && r.get() || Thread.currentThread().isInterrupted();
    }

    /** Whether this thread's command was asked to stop, clearing the request (and the thread's interrupt). */
    public static boolean take() {
        AtomicBoolean r = REQUEST.get();
        boolean asked = r != null && r.getAndSet(false);
        return Thread.interrupted() | asked;
    }

    /**
     * Waits for {@code t} to end, calling {@code onRequest} once if this thread's command is asked to stop meanwhile
     * (the request stays set); an interrupt of this thread counts and stays set too.
     */
    public static void join(Thread t, Runnable onRequest) {
        boolean told = false, interrupted = false;
        while (t.isAlive()) {
            if (!told && (interrupted || requested())) {
                told = true;
                onRequest.run();
            }
            try {
                t.join(POLL_MS);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted)
            Thread.currentThread().interrupt();
    }
}
