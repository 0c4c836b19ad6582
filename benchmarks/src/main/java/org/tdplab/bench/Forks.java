package org.tdplab.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --against} in several JVMs ({@code --forks N}): each fork compares the two builds shot for shot as
 * {@link Against} does, and the forks alternate which build is loaded, warmed up and shot first. One JVM's JIT
 * compiles each build its own way, and that luck lasts the whole run: two builds a counter apart came out 0.82× in
 * one run and 1.00× in the next, and two copies of one build 0.945×, each run with the middle half of its rounds
 * within ±3% — a bias no number of rounds in one JVM reveals. Pooling the rounds of several JVMs, and showing each
 * JVM's median, does.
 */
final class Forks {
    private final Settings s;
    private final Table table;
    private final PrintStream log;

    Forks(Settings s, Table table, PrintStream log) {
        this.s = s;
        this.table = table;
        this.log = log;
    }

    /** One setup's shots in a fork's data file: what, setup, the other build's name, this build's, the other's. */
    static String line(String by, String setup, String otherName, double[] a, double[] b) {
        return String.join("\t", by, setup, otherName, csv(a), csv(b)) + "\n";
    }

    private static String csv(double[] v) {
        return String.join(",", Arrays.stream(v).mapToObj(Double::toString).toList());
    }

    /** Rounds per fork: {@code --rounds} shared out, at least 3 each. */
    int roundsPerFork() {
        return Math.max(3, (s.rounds + s.forks - 1) / s.forks);
    }

    void run() throws IOException, InterruptedException {
        record Shots(String by, String setup, String other, List<double[]> a, List<double[]> b) {
        }
        Map<String, Shots> all = new LinkedHashMap<>();
        for (int k = 0; k < s.forks; k++) {
            Path data = Files.createTempFile("tdplab-bench-fork", ".tsv");
            try {
                boolean otherFirst = k % 2 == 1;
                log.printf("bench: fork %d of %d (%s first)%n", k + 1, s.forks,
                        otherFirst ? s.otherName() : s.mineName());
                int rc = new ProcessBuilder(command(data, otherFirst)).redirectError(ProcessBuilder.Redirect.INHERIT)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
                if (rc != 0)
                    throw new IllegalArgumentException("fork " + (k + 1) + " of the comparison ended with status " + rc
                            + " (its messages are above)");
                for (String l : Files.readAllLines(data)) {
                    String[] f = l.split("\t");
                    Shots sh = all.computeIfAbsent(f[0] + "\t" + f[1], x -> new Shots(f[0], f[1], f[2],
                            new ArrayList<>(), new ArrayList<>()));
                    sh.a().add(parse(f[3]));
                    sh.b().add(parse(f[4]));
                }
            } finally {
                Files.deleteIfExists(data);
            }
        }
        for (Shots sh : all.values()) {
            double[] medians = new double[sh.a().size()];
            for (int k = 0; k < medians.length; k++)
                medians[k] = Against.quantile(Against.ratios(sh.a().get(k), sh.b().get(k)), 0.5);
            Against.row(table, sh.by(), sh.setup(), sh.other(), concat(sh.a()), concat(sh.b()), medians);
        }
    }

    /** This JVM's launcher, options and class path, running one fork of the same comparison. */
    private List<String> command(Path data, boolean otherFirst) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), BenchMain.class.getName()));
        List<String> args = new ArrayList<>(s.args);
        for (String option : List.of("--forks", "--rounds", "--out")) {
            int i = args.indexOf(option);
            if (i >= 0) {
                args.remove(i);
                args.remove(i);
            }
        }
        args.addAll(List.of("--forks", "1", "--rounds", Integer.toString(roundsPerFork()), "--fork-data",
                data.toString()));
        if (otherFirst)
            args.add("--other-first");
        cmd.addAll(args);
        return cmd;
    }

    private static double[] parse(String csv) {
        return Arrays.stream(csv.split(",")).mapToDouble(Double::parseDouble).toArray();
    }

    private static double[] concat(List<double[]> parts) {
        return parts.stream().flatMapToDouble(Arrays::stream).toArray();
    }
}
