package org.tdplab.bench;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * This build against another, in one JVM ({@code --against}), or against itself with VM options and without them
 * ({@code --with}): each side's classes in a class loader of its own (the other build's, or this build's again),
 * made the same way, and fault shots of the two taken in turn (who goes first
 * alternates), so that both see the same machine at the same moments. Each round gives a ratio of the two shots;
 * the figure is the median of the rounds' ratios, with the middle half of them beside it. On a machine whose speed
 * drifts by ±40% from one run to the next this resolves a change of a few percent, which runs of the suite one after
 * the other cannot.
 */
final class Against {
    /** Harness classes defined in each build's loader from this build's bytes (and their nested classes). */
    private static final List<String> HARNESS = List.of("Shot", "Guest", "Order", "Cpu");

    /** One build: a name to print and its {@link Shot#fault}. */
    record Build(String name, Method fault) {
        double shot(String type, long mib, String order, String how) {
            try {
                return (double) fault.invoke(null, type, mib, order, how);
            } catch (InvocationTargetException e) {
                Throwable t = e.getCause();
                if (t instanceof NoClassDefFoundError)
                    throw new IllegalArgumentException(name + ": not a build of the model (it has no "
                            + t.getMessage().replace('/', '.') + ")");
                if (t instanceof LinkageError)
                    throw new IllegalArgumentException(name + ": its public API differs from this build's ("
                            + t.getClass().getSimpleName() + ": " + t.getMessage() + ")");
                throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private final Settings s;
    private final Table table;
    private final PrintStream log;

    Against(Settings s, Table table, PrintStream log) {
        this.s = s;
        this.table = table;
        this.log = log;
    }

    /**
     * Both builds' shots of every setup. With {@link Settings#otherFirst} the other build is loaded, warmed up and
     * shot first (a fork of {@link Forks} alternates it); with {@link Settings#forkData} each setup's shots are also
     * written there for the parent to pool.
     */
    void run() throws IOException {
        List<String> here = List.of(System.getProperty("java.class.path").split(File.pathSeparator));
        List<String> theirs = s.against != null ? classpathOf(s.against) : here;
        Build mine, other;
        if (s.otherFirst) {
            other = load(s.otherName(), theirs);
            mine = load(s.mineName(), here, s.with, s.types);
        } else {
            mine = load(s.mineName(), here, s.with, s.types);
            other = load(s.otherName(), theirs);
        }
        for (long mib : s.sizes)
            for (String how : s.hows)
                for (String type : s.types)
                    for (String order : Shot.RANGE_OPS.contains(how) ? List.of("seq") : s.orders)
                        if (!Shot.RANGE_OPS.contains(how) || Shot.RANGE_TYPES.contains(type))
                            compare(mine, other, type, mib, order, how);
    }

    private void compare(Build mine, Build other, String type, long mib, String order, String how)
            throws IOException {
        boolean range = Shot.RANGE_OPS.contains(how);
        String setup = type + (range ? "" : ", " + order) + ", " + Settings.sizeName(mib);
        log.printf("bench: %s against %s: %s, %s%n", mine.name, other.name, range ? "range op " + how
                : "fault by " + how, setup);
        Build one = s.otherFirst ? other : mine, two = s.otherFirst ? mine : other;
        int pairs = warmUp(one, two, type, mib, order, how);
        log.printf("bench: %d warm-up pairs%s%n", pairs,
                pairs > 0 && Jit.compiledSince() ? " (the JIT still compiling)" : "");
        int rounds = s.rounds;
        double[] a = new double[rounds], b = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            boolean mineFirst = (r % 2 == 0) != s.otherFirst;
            double first = (mineFirst ? mine : other).shot(type, mib, order, how);
            double second = (mineFirst ? other : mine).shot(type, mib, order, how);
            a[r] = mineFirst ? first : second;
            b[r] = mineFirst ? second : first;
        }
        String by = how.equals(Shot.TWO_THREADS) ? "4K fault by write, 2 vCPU threads at once (CPU of both)"
                : how.equals(Shot.READ) ? "read of a mapped 4K page"
                : range ? "range op " + how + " per SPTE" : "4K fault by " + how;
        by += ", " + ratioName(s);
        if (s.forkData != null)
            Files.writeString(s.forkData, Forks.line(by, setup, other.name, a, b), StandardOpenOption.APPEND);
        row(table, by, setup, other.name, a, b, null);
    }

    /**
     * Warm-up pairs of shots: at least {@link Settings#faultWarmup}, then more until a pair passes without the JIT
     * compiler working (at most {@link #MORE_WARMUP_MIB} of guest more). The fault path is a chain of some twenty
     * methods that C2 compiles one by one (each too big to inline into its caller), 0.1–1.7 s each on a busy 2-core
     * machine, and a new VM's first faults take branches the compiled code had not seen (a vCPU's first entry, a
     * region's first token), uncommon traps that send it back to the interpreter until it is compiled again: at 1
     * GiB the JIT worked for 10–15 s. With four pairs, one build's fault path was often still partly in profiled code
     * during the rounds, its shots 2× the other's for a whole JVM (median ratios 0.44–0.52 and 1.57–1.75 in one run
     * of two builds of the same model code); with the JIT quiet first, 0.93–1.12.
     *
     * @return the pairs taken
     */
    int warmUp(Build one, Build two, String type, long mib, String order, String how) {
        int min = s.faultWarmup(mib);
        int max = min + (int) Math.max(1, MORE_WARMUP_MIB / mib);
        try {
            return Jit.untilQuiet(min, max, () -> {
                one.shot(type, mib, order, how);
                two.shot(type, mib, order, how);
            });
        } catch (InterruptedException e) { // the shots run on this thread: never thrown
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** At most this much more guest (MiB; a pair at least) past {@link Settings#faultWarmup} while the JIT works. */
    static final long MORE_WARMUP_MIB = 24 << 10;

    /** What a row's ratio divides: this build by the other, or this build with the options by it without. */
    static String ratioName(Settings s) {
        return s.against != null ? "this build ÷ the other" : "with " + s.withText() + " ÷ without";
    }

    /**
     * The row of one setup: both builds' median shots and the median of the rounds' ratios, with the middle half of
     * the ratios and, from forks, each JVM's median ratio.
     */
    static void row(Table table, String by, String setup, String otherName, double[] a, double[] b,
            double[] forkMedians) {
        double[] ratio = ratios(a, b);
        String forks = forkMedians == null ? "" : String.format(" in %d JVMs; the JVMs' medians %s",
                forkMedians.length, String.join(", ", Arrays.stream(forkMedians).mapToObj(m -> String.format("%.3f",
                        m)).toList()));
        String what = String.format("%s, median of %d rounds' ratios (middle half "
                + "%.3f–%.3f%s)", by, ratio.length, quantile(ratio, 0.25), quantile(ratio, 0.75), forks);
        table.row(what, setup, median(a), by.startsWith("range op") ? "ns/SPTE" : "ns/page", median(b), otherName,
                "", quantile(ratio, 0.5));
    }

    /** The rounds' ratios, sorted. */
    static double[] ratios(double[] a, double[] b) {
        double[] ratio = new double[a.length];
        for (int r = 0; r < a.length; r++)
            ratio[r] = a[r] / b[r];
        Arrays.sort(ratio);
        return ratio;
    }

    static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return quantile(c, 0.5);
    }

    /** The {@code q}-quantile of sorted {@code v}, interpolated. */
    static double quantile(double[] v, double q) {
        double at = q * (v.length - 1);
        int lo = (int) Math.floor(at), hi = (int) Math.ceil(at);
        return v[lo] + (v[hi] - v[lo]) * (at - lo);
    }

    /**
     * What {@code --against} names: a jar or class directory, several joined by {@code :}, or a checkout of this
     * repository (its built {@code benchmarks/target/benchmarks.jar}).
     */
    static List<String> classpathOf(String spec) {
        Path asCheckout = Path.of(spec, "benchmarks", "target", "benchmarks.jar");
        if (Files.isDirectory(Path.of(spec)) && Files.isRegularFile(asCheckout))
            return List.of(asCheckout.toString());
        List<String> out = new ArrayList<>();
        for (String part : spec.split(File.pathSeparator)) {
            if (!Files.exists(Path.of(part)))
                throw new IllegalArgumentException("--against " + spec + ": " + part + " does not exist (give the "
                        + "other build's benchmarks.jar, or a checkout where it is built)");
            out.add(part);
        }
        return out;
    }

    static Build load(String name, List<String> classpath) {
        return load(name, classpath, Map.of(), List.of());
    }

    /**
     * A build in a loader of its own whose VMs of {@code types} are created with {@code options}
     * ({@link Guest#useOptions} of that loader's harness).
     */
    static Build load(String name, List<String> classpath, Map<String, String> options, List<String> types) {
        URL[] urls = classpath.stream().map(Against::url).toArray(URL[]::new);
        try {
            HarnessLoader loader = new HarnessLoader(name, urls);
            Class<?> shot = loader.loadClass(Shot.class.getName());
            if (!options.isEmpty()) {
                Method use = loader.loadClass(Guest.class.getName()).getDeclaredMethod("useOptions", Map.class,
                        List.class);
                use.setAccessible(true);
                use.invoke(null, options, types);
            }
            return new Build(name, shot.getMethod("fault", String.class, long.class, String.class, String.class));
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof IllegalArgumentException i ? i : new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalArgumentException(name + ": not a build of the model this harness can drive ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
    }

    private static URL url(String path) {
        try {
            return Path.of(path).toUri().toURL();
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("--against: " + path + ": " + e.getMessage());
        }
    }

    /** A build's classes, with the harness classes defined here from this build's bytes. */
    private static final class HarnessLoader extends URLClassLoader {
        HarnessLoader(String name, URL[] urls) {
            super(name, urls, ClassLoader.getPlatformClassLoader());
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!isHarness(name))
                return super.loadClass(name, resolve);
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    byte[] bytes = harnessBytes(name);
                    c = defineClass(name, bytes, 0, bytes.length);
                }
                if (resolve)
                    resolveClass(c);
                return c;
            }
        }

        private static boolean isHarness(String name) {
            String pkg = Shot.class.getPackageName() + ".";
            if (!name.startsWith(pkg))
                return false;
            String simple = name.substring(pkg.length());
            int nested = simple.indexOf('$');
            return HARNESS.contains(nested < 0 ? simple : simple.substring(0, nested));
        }

        private static byte[] harnessBytes(String name) throws ClassNotFoundException {
            try (InputStream in = Against.class.getClassLoader()
                    .getResourceAsStream(name.replace('.', '/') + ".class")) {
                if (in == null)
                    throw new ClassNotFoundException(name);
                return in.readAllBytes();
            } catch (IOException e) {
                throw new ClassNotFoundException(name, e);
            }
        }
    }
}
