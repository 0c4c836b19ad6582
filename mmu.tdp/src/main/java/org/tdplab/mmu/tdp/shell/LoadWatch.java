package org.tdplab.mmu.tdp.shell;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleEvent;
import org.osgi.framework.BundleListener;

/**
 * Says on stderr, once, when a jar of the load folder ends up serving no VM type ({@link LoadFolder}'s reasons):
 * a moment after FileInstall installs, updates or starts a bundle there, when it has had its chance to start and
 * register. The framework's own report of such a failure is a Java stack trace, which tdplab does not show.
 */
final class LoadWatch {
    private static final long SETTLE_MS = 1500;

    private final BundleContext context;
    private final Supplier<Set<String>> serving;
    private final ScheduledExecutorService timer;
    private final BundleListener listener;
    private java.util.concurrent.ScheduledFuture<?> pending;
    /** What was said last of each jar, so that a jar that stays broken is not reported at every event. */
    private final Map<String, String> said = new HashMap<>();

    private LoadWatch(BundleContext context, Supplier<Set<String>> serving) {
        this.context = context;
        this.serving = serving;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tdplab load folder watch");
            t.setDaemon(true);
            return t;
        });
        this.listener = event -> {
            int type = event.getType();
            if (type == BundleEvent.INSTALLED || type == BundleEvent.UPDATED || type == BundleEvent.STARTED
                    || type == BundleEvent.UNINSTALLED)
                settleThenReport();
        };
    }

    /** Watches the load folder when FileInstall has one; null when it has none. */
    static LoadWatch start(BundleContext context, Supplier<Set<String>> serving) {
        if (context.getProperty("felix.fileinstall.dir") == null)
            return null;
        LoadWatch w = new LoadWatch(context, serving);
        context.addBundleListener(w.listener);
        return w;
    }

    /** One report, {@link #SETTLE_MS} after the last of a burst of events (FileInstall installs, then starts). */
    private synchronized void settleThenReport() {
        if (pending != null)
            pending.cancel(false);
        try {
            pending = timer.schedule(this::report, SETTLE_MS, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            pending = null; // stopped: the runtime is going away
        }
    }

    void stop() {
        try {
            context.removeBundleListener(listener);
        } catch (IllegalStateException e) {
            // the bundle is stopping: its listeners go with it
        }
        timer.shutdownNow();
    }

    private synchronized void report() {
        List<String> problems;
        try {
            problems = LoadFolder.problems(context, serving.get());
        } catch (IllegalStateException e) {
            return; // the runtime is stopping
        }
        for (String line : news(said, problems))
            System.err.println("tdplab: load folder: " + line + " (./tdplab backends lists them)");
    }

    /**
     * The problems to say now ({@code JAR: reason} each): those not said before in these words. {@code said} becomes
     * what holds now, so a jar that was mended and breaks again is said again, and one that stays broken is not.
     */
    static List<String> news(Map<String, String> said, List<String> problems) {
        Map<String, String> now = new HashMap<>();
        List<String> out = new ArrayList<>();
        for (String p : problems) {
            int colon = p.indexOf(':');
            String jar = colon < 0 ? p : p.substring(0, colon);
            now.put(jar, p);
            if (!p.equals(said.get(jar)))
                out.add(p);
        }
        said.clear();
        said.putAll(now);
        return out;
    }
}
