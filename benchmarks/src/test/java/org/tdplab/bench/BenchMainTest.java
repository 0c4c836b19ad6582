package org.tdplab.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.BitSet;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The suite runs once on tiny sizes (that it works, not how fast), and its parts are right. */
class BenchMainTest {
    @Test
    void quickRunPrintsEveryFigureWithItsRatio() throws Exception {
        String table = BenchMain.runForTest("--quick");
        for (String what : new String[] { "4K fault by write | default, seq, 16M", "4K fault by prefault | tdx, random",
                "4K fault by workload | snp, seq", "private 4K fault by write ÷ legacy | tdx, seq",
                "heap per mapped 4K page, written", "heap per mapped 4K page, prefault", "range op zap per SPTE",
                "range op split per SPTE", "range op recover per SPTE",
                "2 vCPU threads ÷ 1 (speed-up), disjoint halves, wall",
                "2 vCPU threads ÷ 1 (speed-up), disjoint halves, busiest thread's CPU + wait time, median of",
                "2 vCPU threads' CPU time ÷ 1 thread's, same faults, median of",
                "2 vCPU threads ÷ 1 (speed-up), reads of mapped halves", "2 vCPU threads' CPU time ÷ 1 thread's, same reads",
                "TD build: tdx.init_mem_region measure", "floor: walk + allocate + CAS | random",
                "floor + the kernel's sync of a KVM_RUN that faults once (10 locked ops",
                "floor + the kernel's sync of a KVM_PRE_FAULT_MEMORY (6 locked ops", "| " + Table.SYNCED + " |" })
            assertTrue(table.contains(what), what + " missing from\n" + table);
        // every fault figure has a ratio to its floor and one to the floor with the kernel's synchronization
        table.lines().filter(l -> l.startsWith("| 4K fault")).forEach(l -> assertTrue(l.matches(
                ".*\\| [0-9.]+× \\| [0-9.]+× \\|.*"), l));
        table.lines().filter(l -> l.startsWith("| floor + the kernel's sync")).forEach(l -> assertTrue(l.matches(
                ".*\\| [0-9.]+ ns/page \\| [0-9.]+ ns/page \\(the floor\\) \\| [0-9.]+× \\|.*"), l));
        // the threads rows have both speed-ups, the model's and the floor's
        table.lines().filter(l -> l.startsWith("| 2 vCPU threads")).forEach(l -> assertTrue(
                l.matches(".*\\| [0-9.]+ × \\| [0-9.]+ × \\(the floor's own\\).*"), l));
    }

    /**
     * {@code --against}: the same faults of another build (here this one, from the test's class path) in a class
     * loader of its own, shot for shot with this build's; the row has both figures and the median of the ratios.
     */
    @Test
    void againstAnotherBuildComparesTheSameFaultsShotForShot() throws Exception {
        String cp = System.getProperty("java.class.path");
        String table = BenchMain.runForTest("--against", cp, "--quick", "--types", "default,tdx", "--hows",
                "write,prefault,read," + Shot.TWO_THREADS);
        String figures = ".*\\| [0-9.]+ ns/page \\| [0-9.]+ ns/page \\(.*\\) \\| [0-9.]+× \\|.*";
        for (String setup : new String[] { "default, seq, 16M", "default, random, 16M", "tdx, seq, 16M" })
            for (String how : new String[] { "4K fault by write", "4K fault by prefault", "read of a mapped 4K page",
                    "4K fault by write, 2 vCPU threads at once (CPU of both)" })
                assertTrue(table.lines().anyMatch(l -> l.startsWith("| " + how + ", this build ÷ the other")
                        && l.contains("| " + setup + " |") && l.matches(figures)), how + " " + setup + " missing:\n"
                                + table);
    }

    /**
     * {@code --against} with range operations as {@code --hows}: each op over a mapped guest, shot for shot, per
     * SPTE, once per type that can log dirty memory (not per order); a TD in {@code --types} gets no such row.
     */
    @Test
    void againstComparesRangeOperationsPerSpte() throws Exception {
        String cp = System.getProperty("java.class.path");
        String table = BenchMain.runForTest("--against", cp, "--quick", "--types", "default,tdx", "--hows",
                "zap,clear_dirty,split");
        String figures = ".*\\| [0-9.]+ ns/SPTE \\| [0-9.]+ ns/SPTE \\(.*\\) \\| [0-9.]+× \\|.*";
        for (String op : new String[] { "zap", "clear_dirty", "split" }) {
            String by = "| range op " + op + " per SPTE, this build ÷ the other";
            assertEquals(1, table.lines().filter(l -> l.startsWith(by) && l.contains("| default, 16M |")
                    && l.matches(figures)).count(), op + ":\n" + table);
        }
        assertTrue(table.lines().noneMatch(l -> l.contains("| tdx, ") && l.contains("range op")), table);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Settings.parse(
                new String[] { "--hows", "zap" }));
        assertTrue(e.getMessage().contains("a range operation"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] { "--against", cp,
                "--hows", "age", "--types", "tdx,snp" }));
        assertEquals("--hows: range operations run on a guest of type default or sw_protected, which --types "
                + "tdx,snp does not name", e.getMessage());
    }

    /**
     * {@code --with}: this build's faults with VM options against the same faults without them, shot for shot in two
     * loaders of this build, as {@code --against} compares builds; a type without the option is its own control.
     */
    @Test
    void withComparesThisBuildWithAnOptionAgainstItselfWithout() throws Exception {
        String table = BenchMain.runForTest("--with", "dynamic_pamt=on", "--quick", "--types", "default,tdx",
                "--hows", "write");
        assertTrue(table.startsWith("tdplab bench --with dynamic_pamt=on: this build's VMs with it and without it"),
                table);
        for (String setup : new String[] { "default, seq, 16M", "tdx, random, 16M" })
            assertTrue(table.lines().anyMatch(l -> l.startsWith("| 4K fault by write, with dynamic_pamt=on ÷ without,"
                    + " median of 2 rounds") && l.contains("| " + setup + " |") && l.matches(".*\\| [0-9.]+ ns/page "
                    + "\\| [0-9.]+ ns/page \\(this build without dynamic_pamt=on\\) \\| [0-9.]+× \\|.*")),
                    setup + " missing:\n" + table);
        List<String> cp = List.of(System.getProperty("java.class.path").split(File.pathSeparator));
        assertEquals(Map.of("dynamic_pamt", "on"), vmOptionsOf(Against.load("with", cp, Map.of("dynamic_pamt", "on"),
                List.of("tdx"))), "the side with the option creates its VMs with it");
        assertEquals(Map.of(), vmOptionsOf(Against.load("without", cp)));
        for (String[] bad : new String[][] { { "--with", "dynamic_pamt", "--with dynamic_pamt: not KEY=VALUE" },
                { "--with", "nope=1", "--with nope: not an option of default, sw_protected, tdx, snp" },
                { "--with", "dynamic_pamt=on", "--option", "busy_rate=0.1", "--with: not with --option" } }) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchMain.runForTest(
                    java.util.Arrays.copyOf(bad, bad.length - 1)));
            assertTrue(e.getMessage().startsWith(bad[bad.length - 1]), e.getMessage());
        }
    }

    private static Object vmOptionsOf(Against.Build build) throws ReflectiveOperationException {
        java.lang.reflect.Field f = build.fault().getDeclaringClass().getClassLoader()
                .loadClass(Guest.class.getName()).getDeclaredField("vmOptions");
        f.setAccessible(true);
        return f.get(null);
    }

    /**
     * {@code --forks}: the comparison runs in that many JVMs, the other build first in every second one; the row pools
     * their rounds and shows each JVM's median. A fork that fails fails the comparison, its status named.
     */
    @Test
    void forksPoolTheRoundsOfSeveralJvms() throws Exception {
        String cp = System.getProperty("java.class.path");
        String table = BenchMain.runForTest("--against", cp, "--quick", "--forks", "2", "--types", "default",
                "--hows", "write");
        assertTrue(table.contains("in 2 JVMs one after another"), table);
        for (String setup : new String[] { "default, seq, 16M", "default, random, 16M" })
            assertTrue(table.lines().anyMatch(l -> l.contains("| " + setup + " |") && l.matches(".*median of 6 rounds' "
                    + "ratios \\(middle half [0-9.]+–[0-9.]+ in 2 JVMs; the JVMs' medians [0-9.]+, [0-9.]+\\).*")),
                    setup + " missing:\n" + table);
        String benchOnly = List.of(cp.split(File.pathSeparator)).stream().filter(p -> p.contains("benchmarks"))
                .findFirst().orElseThrow();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchMain.runForTest(
                "--against", benchOnly, "--quick", "--forks", "2", "--types", "default", "--hows", "write"));
        assertEquals("fork 1 of the comparison ended with status 1 (its messages are above)", e.getMessage());
    }

    /** The warm-up takes its pairs, and more only within its bound (while the JIT compiles); --quick has none. */
    @Test
    void warmUpTakesItsPairsThenGoesOnWhileTheJitCompiles() throws Exception {
        List<String> cp = List.of(System.getProperty("java.class.path").split(File.pathSeparator));
        Against.Build a = Against.load("a", cp), b = Against.load("b", cp);
        PrintStream none = new PrintStream(OutputStream.nullOutputStream());
        Settings s = Settings.parse(new String[] { "--warmup", "1" });
        int pairs = new Against(s, new Table(), none).warmUp(a, b, "default", 16, "seq", "write");
        int min = s.faultWarmup(16), max = min + (int) (Against.MORE_WARMUP_MIB / 16);
        assertTrue(pairs >= min && pairs <= max, pairs + " pairs, not in [" + min + ", " + max + "]");
        assertEquals(0, new Against(Settings.parse(new String[] { "--quick" }), new Table(), none).warmUp(a, b,
                "default", 16, "seq", "write"), "--quick: no warm-up");
    }

    /** The suite's faults are shot round after round before their rows, within the bound; --quick takes none. */
    @Test
    void theSuiteWarmsTheFaultPathWithinItsBound() throws Exception {
        Settings s = Settings.parse(new String[] { "--warmup", "1", "--sizes", "16M", "--types", "default",
                "--hows", "write" });
        int rounds = new BenchMain(s).settleJit();
        assertTrue(rounds >= 1 && rounds <= BenchMain.SETTLE_ROUNDS, rounds + " rounds");
        assertEquals(0, new BenchMain(Settings.parse(new String[] { "--quick" })).settleJit(), "--quick: none");
    }

    /** Each build runs in a loader of its own, the harness defined there; a class path without the model is refused. */
    @Test
    void eachBuildGetsALoaderOfItsOwnAndAClassPathWithoutTheModelIsRefused() throws Exception {
        List<String> cp = List.of(System.getProperty("java.class.path").split(File.pathSeparator));
        Against.Build a = Against.load("a", cp), b = Against.load("b", cp);
        ClassLoader la = a.fault().getDeclaringClass().getClassLoader();
        ClassLoader lb = b.fault().getDeclaringClass().getClassLoader();
        assertTrue(la != lb && la != Shot.class.getClassLoader(), "three loaders");
        assertEquals("a", la.getName(), "named by the build (JFR and the JIT's logs tell the builds apart)");
        assertTrue(la.loadClass("org.tdplab.mmu.api.Vm") != Shot.class.getClassLoader()
                .loadClass("org.tdplab.mmu.api.Vm"), "the model's classes come from the build's own class path");
        assertTrue(a.shot("default", 2, "seq", "write") > 0);
        String benchOnly = cp.stream().filter(p -> p.contains("benchmarks")).findFirst().orElseThrow();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Against.load("lonely", List.of(benchOnly)).shot("default", 2, "seq", "write"));
        assertTrue(e.getMessage().startsWith("lonely: not a build of the model"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] { "--hows",
                Shot.TWO_THREADS }));
        assertTrue(e.getMessage().contains("with --against"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] { "--against",
                "/no/such.jar" }));
        assertTrue(e.getMessage().contains("/no/such.jar does not exist"), e.getMessage());
    }

    @Test
    void randomOrderIsAPermutation() {
        for (long n : new long[] { 1, 2, 3, 100, 4096, 5000 }) {
            Order o = new Order(n, true);
            BitSet seen = new BitSet();
            for (long i = 0; i < n; i++)
                seen.set((int) o.page(i));
            assertEquals(n, seen.cardinality(), "n=" + n);
        }
    }

    @Test
    void floorMapsWhatItWasGivenAndScansIt() {
        Floor f = new Floor(1 << 12);
        Order o = new Order(1 << 12, true);
        for (long i = 0; i < o.size(); i++)
            f.map(o.page(i), o.page(i) + 7);
        for (long g = 0; g < o.size(); g++)
            assertEquals(g + 7, f.touch(g));
        assertEquals(1 + 1 + 1 + 8, f.tables(), "root, one table at levels 3 and 2, eight leaf tables");
        assertEquals(1 << 12, f.scan(0, 1 << 12, Floor.WP));
        assertEquals(1 << 12, f.scan(0, 1 << 12, Floor.ZAP));
        assertEquals(0, f.scan(0, 1 << 12, Floor.ZAP), "nothing left to zap");
    }

    @Test
    void smallGuestsWarmUpOnFourGibibytesOfFaults() {
        Settings s = Settings.parse(new String[0]);
        assertEquals(4, s.faultWarmup(1024), "four 1 GiB warm-up shots");
        assertEquals(1, s.faultWarmup(16384), "one 16 GiB shot is warm-up enough");
        assertEquals(8, s.faultWarmup(16), "at most eight");
        assertEquals(0, Settings.parse(new String[] { "--quick" }).faultWarmup(16), "--quick: none");
    }

    private static final String TMP = java.nio.file.Path.of(System.getProperty("java.io.tmpdir")).toString();

    @Test
    void helpPrintsTheUsageAndRunsNothing() throws Exception {
        java.io.PrintStream saved = System.out;
        java.io.ByteArrayOutputStream said = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(said, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            BenchMain.main(new String[] { "--help" }); // returns: it does not exit with a usage error
        } finally {
            System.setOut(saved);
        }
        assertEquals(Settings.USAGE + "\n", said.toString(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] { "--sizes", "3G" }));
        assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] { "--what" }));
        assertEquals(java.util.List.of(1024L, 65536L), Settings.parseSizes("1G,64G"));
        // each says what was wrong in words, never a Java exception's text
        for (String[] bad : new String[][] { { "--types", "default,bogus", "--types bogus: not one of default," },
                { "--only", "nothing", "--only nothing: not one of fault,heap," },
                { "--only", "", "--only '': not one of" },
                { "--iterations", "x", "--iterations x: a positive number" },
                { "--iterations", "0", "--iterations 0: a positive number" },
                { "--warmup", "-1", "--warmup -1: a whole number of at least 0" },
                { "--sizes", "xG", "size XG: a number of M or G" },
                { "--out", "/nonexistent/dir/table.md", "--out /nonexistent/dir/table.md: no such directory" },
                { "--out", TMP, "--out " + TMP + ": is a directory" } }) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Settings.parse(new String[] { bad[0], bad[1] }));
            assertTrue(e.getMessage().startsWith(bad[2]), e.getMessage());
        }
        Settings chosen = Settings.parse(new String[] { "--types", "tdx,snp", "--only", "fault", "--warmup", "0" });
        assertEquals(List.of("tdx", "snp"), chosen.types);
        assertTrue(chosen.wants("fault") && !chosen.wants("heap"));
    }

    @Test
    void vmOptionsGoToTheTypesThatHaveThem() throws Exception {
        try {
            String table = BenchMain.runForTest("--quick", "--types", "default,tdx", "--only", "fault", "--hows",
                    "write", "--option", "dynamic_pamt=on");
            assertTrue(table.startsWith("tdplab benchmarks:") && table.lines().findFirst().orElseThrow()
                    .contains("created with {dynamic_pamt=on}"), table);
            assertTrue(table.contains("4K fault by write | tdx, seq, 16M") && table.contains(
                    "4K fault by write | default, seq, 16M"), table);
            try (Guest td = Guest.create("tdx", 16L << 20, 1); Guest plain = Guest.create("default", 16L << 20, 1)) {
                assertTrue(td.vm.stats().containsKey("dynamic_pamt_pairs"), "the TD has Dynamic PAMT");
                assertTrue(plain.vm.stats().get("pages_4k") != null, "the default VM was made, without the option");
            }
        } finally {
            Guest.useOptions(java.util.Map.of(), List.of());
        }
        for (String[] bad : new String[][] { { "--option", "dynamic_pamt", "--option dynamic_pamt: not KEY=VALUE" },
                { "--option", "nope=1", "--option nope: not an option of default,sw_protected,tdx,snp".replace(",",
                        ", ") },
                { "--option", "dynamic_pamt=maybe", "--option: VM type tdx refuses {dynamic_pamt=maybe}: " } }) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchMain.runForTest(
                    bad[0], bad[1]));
            assertTrue(e.getMessage().startsWith(bad[2]), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Settings.parse(new String[] {
                "--against", System.getProperty("java.class.path").split(File.pathSeparator)[0], "--option",
                "dynamic_pamt=on" }));
        assertEquals("--option: not with --against", e.getMessage());
    }
}
