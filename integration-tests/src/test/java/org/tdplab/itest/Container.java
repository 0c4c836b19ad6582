package org.tdplab.itest;

import static org.ops4j.pax.exam.CoreOptions.frameworkProperty;
import static org.ops4j.pax.exam.CoreOptions.junitBundles;
import static org.ops4j.pax.exam.CoreOptions.options;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.ops4j.pax.exam.CoreOptions;
import org.ops4j.pax.exam.Option;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;

/**
 * The container every integration test starts: the bundles the runtime resolves, taken from the runtime itself
 * ({@code app/target/tdplab.jar}, exported from {@code app/tdplab.bndrun}: its embedded jars, its run order and start
 * levels, its run properties), so the tests run what {@code ./tdplab} runs and no second list is kept here.
 */
public final class Container {
    /** The runtime's bundles in its run order: symbolic name → start level. */
    private static final Map<String, Integer> RUN_BUNDLES = new LinkedHashMap<>();
    /** The runtime's framework properties ({@code -runproperties}). */
    private static final Map<String, String> RUN_PROPERTIES = new LinkedHashMap<>();
    private static int beginningStartLevel = 1;

    static {
        readRuntime(new File(System.getProperty("itest.runtime", "../app/target/tdplab.jar")));
    }

    private Container() {
    }

    /** Unpacks the runtime's bundles to {@code itest.bundles/BSN.jar} and reads its run list and properties. */
    private static void readRuntime(File runtime) {
        File dir = new File(System.getProperty("itest.bundles", "target/bundles"));
        try (JarFile jar = new JarFile(runtime)) {
            Properties launch = new Properties();
            try (InputStream in = jar.getInputStream(jar.getEntry("launcher.properties"))) {
                launch.load(in);
            }
            List<String> paths = Arrays.asList(launch.getProperty("launch.bundles").split(","));
            Matcher m = Pattern.compile("([^,;]+);version=\"[^\"]*\";startlevel=(\\d+)")
                    .matcher(launch.getProperty("launch.runbundles.attrs"));
            List<String> names = new ArrayList<>();
            while (m.find()) {
                names.add(m.group(1));
                RUN_BUNDLES.put(m.group(1), Integer.parseInt(m.group(2)));
            }
            if (names.size() != paths.size())
                throw new IllegalStateException(runtime + ": " + names.size() + " run bundles, " + paths.size() + " jars");
            Files.createDirectories(dir.toPath());
            for (int i = 0; i < paths.size(); i++)
                try (InputStream in = jar.getInputStream(jar.getEntry(paths.get(i)))) {
                    Files.copy(in, new File(dir, names.get(i) + ".jar").toPath(), StandardCopyOption.REPLACE_EXISTING);
                }
            for (String key : launch.stringPropertyNames())
                if (!key.startsWith("launch."))
                    RUN_PROPERTIES.put(key, launch.getProperty(key));
            String beginning = RUN_PROPERTIES.remove("org.osgi.framework.startlevel.beginning");
            if (beginning != null)
                beginningStartLevel = Integer.parseInt(beginning);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the runtime " + runtime + " (run from the reactor root: mvn verify)",
                    e);
        }
    }

    public static File bundleFile(String bsn) {
        File f = new File(System.getProperty("itest.bundles", "target/bundles"), bsn + ".jar");
        if (!f.isFile())
            throw new IllegalStateException("missing bundle " + f + " (run from the reactor root: mvn verify)");
        return f;
    }

    /** The runtime without the named bundles. */
    public static Option[] without(String... left) {
        return runtime(Map.of(), left);
    }

    /**
     * The runtime, its run properties overridden by {@code properties}, without the named bundles. FileInstall watches
     * an empty folder of the build unless a test names its own {@code felix.fileinstall.dir}.
     */
    public static Option[] runtime(Map<String, String> properties, String... left) {
        List<Option> opts = new ArrayList<>();
        opts.add(junitBundles());
        opts.add(systemProperty("org.ops4j.pax.logging.DefaultServiceLog.level").value("WARN"));
        opts.add(frameworkProperty("felix.log.level").value("1"));
        opts.add(CoreOptions.frameworkStartLevel(beginningStartLevel));
        Map<String, String> props = new LinkedHashMap<>(RUN_PROPERTIES);
        File load = new File("target/itest-load");
        load.mkdirs();
        props.put("felix.fileinstall.dir", load.getAbsolutePath());
        props.putAll(properties);
        props.forEach((k, v) -> opts.add(frameworkProperty(k).value(v)));
        List<String> skip = Arrays.asList(left);
        RUN_BUNDLES.forEach((bsn, level) -> {
            if (!skip.contains(bsn))
                opts.add(CoreOptions.bundle(bundleFile(bsn).toURI().toString()).startLevel(level));
        });
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

    /**
     * Runs the Gogo command {@code name} with {@code args} (passed as session variables, so no quoting) in a fresh
     * session; its output replaces {@code output}. Returns the command's exit status.
     */
    public static int command(org.apache.felix.service.command.CommandProcessor processor, String name,
            StringBuilder output, String... args) throws Exception {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream out = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
        org.apache.felix.service.command.CommandSession session = processor.createSession(
                new java.io.ByteArrayInputStream(new byte[0]), out, out);
        try {
            StringBuilder line = new StringBuilder(name);
            for (int i = 0; i < args.length; i++) {
                session.put("a" + i, args[i]);
                line.append(" $a").append(i);
            }
            Object result = session.execute(line);
            output.setLength(0);
            output.append(bytes.toString(java.nio.charset.StandardCharsets.UTF_8));
            return (Integer) result;
        } finally {
            session.close();
        }
    }
}
