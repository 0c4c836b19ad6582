package org.tdplab.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line of {@code bench}: what to run, at which sizes, how often. */
final class Settings {
    static final String USAGE = "usage: bench [--sizes 1G,16G,64G] [--types default,sw_protected,tdx,snp] "
            + "[--only fault,heap,range,threads,tdbuild,startup] [--iterations N] [--warmup N] [--quick] "
            + "[--hows write,prefault,workload] [--option KEY=VALUE]… [--out FILE] [--root DIR]\n"
            + "       bench --against OTHER.jar|CHECKOUT [--rounds N] [--forks N] [--sizes …] [--types …] "
            + "[--hows write,prefault,write-2-threads,read,zap,wp,clear_dirty,age,split,recover]\n"
            + "       bench --with KEY=VALUE… [--rounds N] [--forks N] [--sizes …] [--types …] [--hows …]";
    /** The VM types and the parts of the suite there are: what {@code --types} and {@code --only} choose from. */
    static final List<String> TYPES = List.of("default", "sw_protected", "tdx", "snp"),
            PARTS = List.of("fault", "heap", "range", "threads", "tdbuild", "startup");
    List<Long> sizes = List.of(1024L, 16384L);
    List<String> types = TYPES;
    List<String> orders = List.of("seq", "random");
    List<String> hows = List.of("write", "prefault", "workload");
    List<String> ops = List.of("zap", "wp", "clear_dirty", "age", "split", "recover");
    List<String> only = PARTS;
    int iterations = 3, warmup = 1;
    /** A fault shot's warm-up faults at least this many MiB of guest, in as many shots as that takes. */
    static final long WARMUP_MIB = 4096;
    boolean quick;
    /** Another build to compare this one with ({@link Against}); null: run the suite. */
    String against;
    int rounds = 15;
    /** JVMs the comparison runs in ({@link Forks}); 1: this one. */
    int forks = 3;
    /** In a fork: load, warm up and shoot the other build first; write each setup's shots to {@link #forkData}. */
    boolean otherFirst;
    Path forkData;
    /**
     * {@code --with}: compare this build with these VM options against itself without them, as {@link Against}
     * compares two builds; empty: no such comparison.
     */
    java.util.Map<String, String> with = java.util.Map.of();
    /** VM options of the types' own ({@code dynamic_pamt=on}): each VM of a type that has the option gets it. */
    java.util.Map<String, String> vmOptions = java.util.Map.of();
    /** The command line as given, for the forks'. */
    List<String> args = List.of();
    Path out;
    Path root = Startup.findRoot();

    static Settings parse(String[] args) {
        Settings s = new Settings();
        s.args = List.of(args);
        List<Long> sizes = null;
        Integer iterations = null, warmup = null, rounds = null, forks = null;
        List<String> hows = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
            case "--help", "-h" -> throw new IllegalArgumentException("the arguments:");
            case "--quick" -> s.quick = true;
            case "--sizes" -> sizes = parseSizes(value(args, ++i, a));
            case "--types" -> s.types = names(value(args, ++i, a), a, TYPES);
            case "--only" -> s.only = names(value(args, ++i, a), a, PARTS);
            case "--iterations" -> iterations = atLeast(1, value(args, ++i, a), a);
            case "--warmup" -> warmup = atLeast(0, value(args, ++i, a), a);
            case "--out" -> s.out = Path.of(value(args, ++i, a));
            case "--against" -> s.against = value(args, ++i, a);
            case "--rounds" -> rounds = atLeast(1, value(args, ++i, a), a);
            case "--forks" -> forks = atLeast(1, value(args, ++i, a), a);
            case "--other-first" -> s.otherFirst = true; // a fork's own arguments (Forks)
            case "--fork-data" -> s.forkData = Path.of(value(args, ++i, a));
            case "--hows" -> hows = List.of(value(args, ++i, a).split(","));
            case "--root" -> s.root = Path.of(value(args, ++i, a));
            case "--option" -> s.vmOptions = withPair(s.vmOptions, value(args, ++i, a), a);
            case "--with" -> s.with = withPair(s.with, value(args, ++i, a), a);
            default -> throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (s.quick) {
            s.sizes = List.of(16L);
            s.iterations = 1;
            s.warmup = 0;
            s.rounds = 2;
            s.forks = 1;
        }
        if (rounds != null)
            s.rounds = rounds;
        if (forks != null)
            s.forks = forks;
        if (s.against != null)
            Against.classpathOf(s.against); // that it exists, before anything runs
        if (s.against != null && !s.vmOptions.isEmpty()) // the other build's harness is loaded apart, without them
            throw new IllegalArgumentException("--option: not with --against");
        if (!s.with.isEmpty() && (s.against != null || !s.vmOptions.isEmpty()))
            throw new IllegalArgumentException("--with: not with " + (s.against != null ? "--against" : "--option")
                    + " (it compares this build with the options and without them)");
        if (s.out != null)
            checkWritable(s.out); // before the suite runs for minutes, not after
        if (hows != null) {
            for (String h : hows)
                if (!List.of("write", "prefault", "workload").contains(h) && !(s.comparing() && comparedOnly(h)))
                    throw new IllegalArgumentException("--hows " + h + ": write, prefault or workload (and "
                            + Shot.TWO_THREADS + ", " + Shot.READ + " or a range operation, "
                            + String.join(", ", Shot.RANGE_OPS) + ", with --against or --with)");
            if (hows.stream().anyMatch(Shot.RANGE_OPS::contains)
                    && s.types.stream().noneMatch(Shot.RANGE_TYPES::contains))
                throw new IllegalArgumentException("--hows: range operations run on a guest of type "
                        + String.join(" or ", Shot.RANGE_TYPES) + ", which --types " + String.join(",", s.types)
                        + " does not name");
            s.hows = hows;
        } else if (s.comparing())
            s.hows = List.of("write");
        if (sizes != null)
            s.sizes = sizes;
        if (iterations != null)
            s.iterations = iterations;
        if (warmup != null)
            s.warmup = warmup;
        return s;
    }

    /** A {@code --hows} only a comparison takes: two threads, reads, a range operation. */
    private static boolean comparedOnly(String how) {
        return how.equals(Shot.TWO_THREADS) || how.equals(Shot.READ) || Shot.RANGE_OPS.contains(how);
    }

    /** {@code KEY=VALUE} added to {@code options}, or IllegalArgumentException naming {@code option}. */
    private static java.util.Map<String, String> withPair(java.util.Map<String, String> options, String kv,
            String option) {
        int eq = kv.indexOf('=');
        if (eq <= 0 || eq == kv.length() - 1)
            throw new IllegalArgumentException(option + " " + kv + ": not KEY=VALUE");
        java.util.Map<String, String> m = new java.util.TreeMap<>(options);
        m.put(kv.substring(0, eq), kv.substring(eq + 1));
        return m;
    }

    /**
     * Two builds' faults shot for shot ({@code --against}), or this build's with options and without
     * ({@code --with}).
     */
    boolean comparing() {
        return against != null || !with.isEmpty();
    }

    /** The side a comparison divides: this build, or this build with the {@code --with} options. */
    String mineName() {
        return against != null ? "this build" : "this build with " + withText();
    }

    /** The side a comparison divides by: the other build, or this one without the {@code --with} options. */
    String otherName() {
        return against != null ? against : "this build without " + withText();
    }

    /** The {@code --with} options as given, {@code k=v} joined by spaces. */
    String withText() {
        return String.join(" ", with.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
    }

    /**
     * Warm-up shots of the fault benchmarks at {@code mib}: {@link #warmup} shots of at least {@link #WARMUP_MIB}
     * in all, so that a small guest's shots run compiled code too (a TD's fault path needs several 1 GiB shots:
     * 626–699 ns per page as the best of four, 399 as the best of ten). The range operations take as many: after
     * one 1 GiB warm-up shot the zap, the first of them, was often timed before its code (or its floor loop's) was
     * compiled — its floor 8–53 ns per SPTE from one run to the next, 6.3–7.7 after six.
     */
    int faultWarmup(long mib) {
        return warmup == 0 ? 0 : (int) Math.max(warmup, Math.min(8, warmup * WARMUP_MIB / mib));
    }

    /** Where {@code --out} writes: a directory that exists, and no directory or unwritable file at the path. */
    private static void checkWritable(Path out) {
        Path dir = out.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir))
            throw new IllegalArgumentException("--out " + out + ": no such directory: " + dir);
        if (Files.isDirectory(out))
            throw new IllegalArgumentException("--out " + out + ": is a directory");
        if (Files.exists(out) ? !Files.isWritable(out) : !Files.isWritable(dir))
            throw new IllegalArgumentException("--out " + out + ": cannot be written");
    }

    private static int atLeast(int min, String text, String option) {
        try {
            int v = Integer.parseInt(text);
            if (v >= min)
                return v;
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException(option + " " + text + ": " + (min == 1 ? "a positive number"
                : "a whole number of at least " + min));
    }

    /** A comma-separated choice from {@code known}, each name checked (a misspelt one would silently run nothing). */
    private static List<String> names(String text, String option, List<String> known) {
        List<String> out = List.of(text.split(","));
        for (String n : out)
            if (!known.contains(n))
                throw new IllegalArgumentException(option + " " + (n.isEmpty() ? "''" : n) + ": not one of "
                        + String.join(",", known));
        return out;
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length)
            throw new IllegalArgumentException(option + " needs a value");
        return args[i];
    }

    static List<Long> parseSizes(String text) {
        List<Long> out = new ArrayList<>();
        for (String t : text.split(",")) {
            t = t.strip().toUpperCase();
            long mul = t.endsWith("G") ? 1024 : t.endsWith("M") ? 1 : 0;
            if (mul == 0)
                throw new IllegalArgumentException("size " + t + ": give M or G, e.g. 16G");
            long v;
            try {
                v = Long.parseLong(t.substring(0, t.length() - 1)) * mul;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("size " + t + ": a number of M or G, e.g. 16G");
            }
            if (v < 2 || Long.bitCount(v) != 1)
                throw new IllegalArgumentException("size " + t + ": a power of two of at least 2M");
            out.add(v);
        }
        return out;
    }

    static String sizeName(long mib) {
        return mib >= 1024 ? (mib >> 10) + "G" : mib + "M";
    }

    String sizeNames() {
        return String.join(",", sizes.stream().map(Settings::sizeName).toList());
    }

    boolean wants(String part) {
        return only.contains(part);
    }

    /** Heap is measured at the smallest size of at least 1G (or the smallest size). */
    long heapMib() {
        return sizes.stream().filter(m -> m >= 1024).findFirst().orElse(sizes.get(0));
    }

    long rangeMib() {
        return heapMib();
    }

    long threadMib() {
        return heapMib();
    }

    long tdMib() {
        return Math.min(256, sizes.get(0));
    }
}
