package org.tdplab.mmu.scenario.run;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The progress line of a run on a terminal's stderr: {@code FILE: statement N of M, P pages, R pages/s}, redrawn
 * four times a second once the run has taken longer than a second, and erased at the end. Pages are those the
 * workloads' vCPUs touched ({@link #PAGES}).
 */
public final class Progress implements AutoCloseable {
    /** Pages touched by workload vCPUs, process-wide (added every 1024 pages, not per page). */
    public static final AtomicLong PAGES = new AtomicLong();

    private final PrintStream err;
    private final Thread thread;
    private final long start = System.nanoTime();
    private final long pages0 = PAGES.get();
    private volatile String file = "";
    private volatile int statement, total;
    private volatile boolean drawn;

    private Progress(PrintStream err) {
        this.err = err;
        this.thread = new Thread(this::loop, "tdplab-progress");
        thread.setDaemon(true);
        thread.start();
    }

    /** A progress line on {@code err}, or none when {@code enabled} is false. */
    static Progress on(PrintStream err, boolean enabled) {
        return enabled ? new Progress(err) : null;
    }

    /** Whether the launcher said stderr is a terminal ({@code TDPLAB_STDERR_TTY=1}, set by {@code ./tdplab}). */
    public static boolean stderrIsTerminal() {
        return "1".equals(System.getenv("TDPLAB_STDERR_TTY"));
    }

    void at(String file, int statement, int total) {
        this.file = file;
        this.statement = statement;
        this.total = total;
    }

    String line() {
        long nanos = System.nanoTime() - start, pages = PAGES.get() - pages0;
        return String.format(Locale.ROOT, "%s: statement %d of %d, %d pages, %d pages/s", file, statement, total,
                pages, nanos == 0 ? 0 : (long) (pages * 1e9 / nanos));
    }

    private void loop() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(250);
                if (System.nanoTime() - start > 1_000_000_000L) {
                    synchronized (this) {
                        err.print("\r\033[K" + line());
                        err.flush();
                        drawn = true;
                    }
                }
            }
        } catch (InterruptedException e) {
            // closed
        }
    }

    /** Erases the line (if drawn) so that a line printed on stdout does not land after it; the next tick redraws. */
    public synchronized void clear() {
        if (drawn) {
            err.print("\r\033[K");
            err.flush();
            drawn = false;
        }
    }

    @Override
    public void close() {
        thread.interrupt();
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        clear();
    }
}
