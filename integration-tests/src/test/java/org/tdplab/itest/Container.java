package org.tdplab.itest;

import static org.ops4j.pax.exam.CoreOptions.frameworkProperty;
import static org.ops4j.pax.exam.CoreOptions.junitBundles;
import static org.ops4j.pax.exam.CoreOptions.options;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;

import org.ops4j.pax.exam.CoreOptions;
import org.ops4j.pax.exam.Option;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;

/** The container every integration test starts: the reactor's fresh jars, provisioned by file URI. */
public final class Container {
    /** Runtime bundles, then ours; a test may leave some of ours out. */
    public static final List<String> RUNTIME = List.of("org.osgi.util.function", "org.osgi.util.promise",
            "org.osgi.service.component", "org.apache.felix.scr", "org.apache.felix.configadmin",
            "org.apache.felix.gogo.runtime");
    public static final List<String> OURS = List.of("mmu.api", "mmu.tdp", "backend.legacy", "backend.tdx",
            "backend.snp");

    private Container() {
    }

    public static File bundleFile(String bsn) {
        File f = new File(System.getProperty("itest.bundles", "target/bundles"), bsn + ".jar");
        if (!f.isFile())
            throw new IllegalStateException("missing bundle " + f + " (run from the reactor root: mvn verify)");
        return f;
    }

    /** The standard container without the named bundles of ours. */
    public static Option[] without(String... left) {
        List<Option> opts = new ArrayList<>();
        opts.add(junitBundles());
        opts.add(systemProperty("org.ops4j.pax.logging.DefaultServiceLog.level").value("WARN"));
        opts.add(frameworkProperty("felix.log.level").value("1"));
        List<String> skip = Arrays.asList(left);
        for (String bsn : RUNTIME)
            opts.add(CoreOptions.bundle(bundleFile(bsn).toURI().toString()));
        for (String bsn : OURS)
            if (!skip.contains(bsn))
                opts.add(CoreOptions.bundle(bundleFile(bsn).toURI().toString()));
        return options(opts.toArray(Option[]::new));
    }

    public static Bundle bundle(BundleContext context, String bsn) {
        for (Bundle b : context.getBundles())
            if (bsn.equals(b.getSymbolicName()))
                return b;
        return null;
    }

    /** Waits (bounded) for an asynchronous container change such as a FileInstall scan. */
    public static boolean eventually(BooleanSupplier condition, long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean())
                return true;
            Thread.sleep(20);
        }
        return condition.getAsBoolean();
    }
}
