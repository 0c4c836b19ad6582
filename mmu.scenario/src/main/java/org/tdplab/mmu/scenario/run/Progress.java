package org.tdplab.mmu.scenario.run;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The progress line of a run on a terminal's stderr, redrawn four times a second once the run has taken longer than
 * a second, and erased at the end. It says what is running now: {@code FILE: statement N of M (SOURCE)}, then the
 * phase a workload is in with the pages its vCPUs touched and their rate in that phase
 * ({@code : populate, P pages, R pages/s}); at the end of a file, the final check and the teardown of each VM. Between
 * statements nothing is drawn, so the line never outlives what it names.
 */
public final class Progress implements AutoCloseable {
    /** Pages touched by workload vCPUs, process-wide (added every 1024 pages, not per page). */
    public static final AtomicLong PAGES = new AtomicLong();
    /** The phase a workload is in (its vCPU threads set it), process-wide; null outside a workload. */
    private static volatile Phase phase;

    private record Phase(String name, long start, long pages0) {
    }

    private final PrintStream err;
    private final Thread thread;
    private final long start = System.nanoTime();
    /** What runs now, or null between statements. */
    private volatile String doing;
    private volatile long since;
    private volatile boolean drawn;
    /** Set by {@link #close}, under this object's lock. */
    private boolean closed;

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

    /** A workload enters a phase ({@code accept}, {@code populate}, {@code iteration 2 dirty} …); null: none. */
    public static void phase(String name) {
        phase = name == null ? null : new Phase(name, System.nanoTime(), PAGES.get());
    }

    /** Statement {@code n} of {@code total} of {@code file} starts. */
    void at(String file, int n, int total, String source) {
        doing(String.format(Locale.ROOT, "%s: statement %d of %d (%s)", file, n, total, shorten(source)));
    }

    /** Something other than a statement starts ({@code FILE: teardown of VM td}); null: nothing runs now. */
    void doing(String what) {
        phase(null);
        since = System.nanoTime();
        doing = what;
        if (what == null)
            clear();
    }

    String line() {
        String what = doing;
        if (what == null)
            return null;
        Phase p = phase;
        long now = System.nanoTime();
        if (p == null)
            return String.format(Locale.ROOT, "%s, %d s", what, (now - since) / 1_000_000_000L);
        long nanos = now - p.start(), pages = PAGES.get() - p.pages0();
        return String.format(Locale.ROOT, "%s: %s, %d pages, %d pages/s", what, p.name(), pages,
                nanos == 0 ? 0 : (long) (pages * 1e9 / nanos));
    }

    private static String shorten(String source) {
        String s = source.strip();
        return s.length() <= 60 ? s : s.substring(0, 59) + "…";
    }

    /**
     * Redraws the line every 250 ms until {@link #close}. Stopped by a flag, never by an interrupt: {@code err} may be
     * Gogo's interruptible channel over the terminal, which an interrupt during a write would close for good.
     */
    private synchronized void loop() {
        try {
            while (!closed) {
                wait(250);
                if (!closed && System.nanoTime() - start > 1_000_000_000L) {
                    String line = line();
                    if (line != null) {
                        err.print("\r\033[K" + line);
                        err.flush();
                        drawn = true;
                    }
                }
            }
        } catch (InterruptedException e) {
            // no one interrupts this thread; if something did, the line just stops being drawn
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
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        boolean interrupted = false;
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            interrupted = true;
        }
        phase(null);
        clear();
        if (interrupted) // after the last write: see loop()
            Thread.currentThread().interrupt();
    }
}
