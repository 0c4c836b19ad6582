package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Every statement that takes a GPA range, on every VM type, refuses a range that wraps past 2^64 or reaches beyond
 * the VM's 48-bit GPA space with EINVAL and a message naming it, and changes nothing: the VM's counters and page
 * tables are as before and its invariants hold ({@code kvm_vcpu_pre_fault_memory}'s {@code gpa + size <= gpa}, and
 * the like, checked before anything is done).
 */
class WrappedRangePropertyTest {
    private static final long K4 = 0x1000, TOP = 1L << 48;
    private static final VmManager MANAGER = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(),
            new TdxBackend(), new SnpBackend());
    private static final List<String> TYPES = List.of("default", "sw_protected", "tdx", "snp");
    private static final Set<String> CONFIDENTIAL = Set.of("tdx", "snp"), LOGGING = Set.of("default", "sw_protected"),
            PRIVATE = Set.of("sw_protected", "tdx", "snp");

    /**
     * A statement with {@code A} and {@code S} for the range, the VM types it applies to, and whether it runs before
     * launch. A statement without {@code S} covers {@code span} bytes from {@code A} (a memslot's size, a page).
     */
    record Template(String text, Set<String> types, boolean beforeLaunch, long span) {
        Template(String text, Set<String> types, boolean beforeLaunch) {
            this(text, types, beforeLaunch, 0);
        }

        /** Whether the range this statement names is a bad one. */
        boolean names(Range r) {
            long size = span == 0 ? r.size : span, end = r.gpa + size;
            return Long.compareUnsigned(end, r.gpa) <= 0 || Long.compareUnsigned(end, TOP) > 0;
        }

        String line(Range r) {
            return text.replace("A", "0x" + Long.toHexString(r.gpa)).replace("S", "0x" + Long.toHexString(r.size));
        }

        @Override
        public String toString() {
            return text;
        }
    }

    record Range(long gpa, long size) {
        @Override
        public String toString() {
            return "gpa=0x" + Long.toHexString(gpa) + " size=0x" + Long.toHexString(size);
        }
    }

    private static final List<Template> TEMPLATES = List.of(
            all("slot.add v 9 gpa=A size=S"),
            new Template("slot.move v 2 gpa=A", Set.copyOf(TYPES), false, 2L << 20),
            new Template("attr.set v gpa=A size=S private", PRIVATE, false),
            new Template("attr.set v gpa=A size=S shared", PRIVATE, false),
            all("gmem.punch v gpa=A size=S"),
            all("prefault v gpa=A size=S"),
            new Template("dirty.clear v 1 gpa=A size=S", LOGGING, false),
            all("zap v gpa=A size=S"),
            all("notify.unmap v gpa=A size=S"),
            all("age v gpa=A size=S"),
            all("test_age v gpa=A size=S"),
            all("guest v vcpu=0 read gpa=A size=S"),
            all("guest v vcpu=0 write gpa=A size=S"),
            all("guest v vcpu=0 exec gpa=A size=S"),
            new Template("guest v vcpu=0 convert private gpa=A size=S", PRIVATE, false),
            new Template("guest v vcpu=0 convert shared gpa=A size=S", PRIVATE, false),
            new Template("guest v vcpu=0 accept gpa=A size=S", CONFIDENTIAL, false),
            all("run v demand_paging gpa=A size=S vcpus=1"),
            new Template("tdx.init_mem_region v gpa=A size=S", Set.of("tdx"), true),
            new Template("snp.launch_update v gpa=A size=S", Set.of("snp"), true),
            new Template("snp.host_write v gpa=A", Set.of("snp"), false, K4));

    private static Template all(String text) {
        return new Template(text, Set.copyOf(TYPES), false);
    }

    @Provide
    Arbitrary<String> types() {
        return Arbitraries.of(TYPES);
    }

    @Provide
    Arbitrary<Template> statements() {
        return Arbitraries.of(TEMPLATES);
    }

    /** Page-aligned ranges that wrap past 2^64 or reach beyond 2^48, in four shapes. */
    @Provide
    Arbitrary<Range> badRanges() {
        Arbitrary<Long> pages = Arbitraries.longs().between(1, 1L << 20);
        Arbitrary<Range> wrapping = Combinators.combine(pages, Arbitraries.longs().between(0, 1L << 24))
                .as((j, m) -> new Range(-(j * K4), (j + m) * K4));
        Arbitrary<Range> hugeSize = Combinators.combine(Arbitraries.longs().between(0, 1023), pages)
                .as((g, k) -> new Range(g * K4, -(k * K4)));
        Arbitrary<Range> above = Combinators.combine(Arbitraries.longs().between(0, (1L << 51) - 1),
                Arbitraries.longs().between(1, 1024)).as((i, k) -> new Range(TOP + i * K4, k * K4));
        Arbitrary<Range> straddling = Combinators.combine(Arbitraries.longs().between(1, 512),
                Arbitraries.longs().between(1, 1024)).as((j, k) -> new Range(TOP - j * K4, (j + k) * K4));
        return Arbitraries.oneOf(wrapping, hugeSize, above, straddling);
    }

    @Property(tries = 300)
    void aWrappingOrOutOfRangeStatementIsRefusedWithEinvalBeforeAnyChange(@ForAll("types") String type,
            @ForAll("statements") Template statement, @ForAll("badRanges") Range range) {
        Assume.that(statement.types().contains(type) && statement.names(range));
        Session s = new Session(MANAGER);
        try {
            setUp(s, type, statement.beforeLaunch());
            Vm vm = s.vm("v").orElseThrow();
            Map<String, Object> before = fingerprint(vm);
            String line = statement.line(range);
            List<String> answer = s.execute(line);
            assertEquals(1, answer.size(), line + " -> " + answer);
            assertTrue(answer.get(0).startsWith("EINVAL: "), line + " -> " + answer);
            // a TD's guest statements name the GPA without its shared bit
            long natural = type.equals("tdx") ? range.gpa & ~(1L << 47) : range.gpa;
            assertTrue(answer.get(0).contains("0x" + Long.toHexString(range.gpa))
                    || answer.get(0).contains("0x" + Long.toHexString(natural)), "the message names the range: " + answer);
            assertEquals(before, fingerprint(vm), line + " changed the VM");
            CheckReport check = vm.check();
            assertTrue(check.ok(), line + ": " + check.violations());
        } finally {
            s.close();
        }
    }

    /** A VM of {@code type} with memory mapped (private too where it has it), launched unless asked not to be. */
    private static void setUp(Session s, String type, boolean beforeLaunch) {
        List<String> lines = new ArrayList<>(List.of("vm.create v type=" + type));
        boolean privateMem = !type.equals("default");
        lines.add("slot.add v 0 gpa=0 size=4M backing=2M" + (privateMem ? " flags=gmem" : ""));
        if (LOGGING.contains(type))
            lines.add("slot.add v 1 gpa=8M size=2M flags=dirty_log");
        lines.add("slot.add v 2 gpa=16M size=2M");
        if (privateMem)
            lines.add("attr.set v gpa=0 size=1M private");
        if (type.equals("tdx") && !beforeLaunch)
            lines.addAll(List.of("tdx.finalize v", "guest v vcpu=0 accept gpa=0 size=64K"));
        if (type.equals("snp") && !beforeLaunch)
            lines.addAll(List.of("snp.launch_finish v", "guest v vcpu=0 accept gpa=0 size=64K"));
        if (!beforeLaunch)
            lines.addAll(List.of("guest v vcpu=0 write gpa=0 size=64K", "guest v vcpu=0 write gpa=2M size=64K"));
        if (LOGGING.contains(type))
            lines.add("guest v vcpu=0 write gpa=8M size=16K");
        if (!beforeLaunch)
            lines.add("guest v vcpu=0 write gpa=16M size=16K");
        for (String line : lines) {
            List<String> answer = s.execute(line);
            assertTrue(answer.stream().noneMatch(a -> a.matches("E[A-Z0-9]+: .*")), line + " -> " + answer);
        }
    }

    /** The VM's counters and the walks of a few GPAs in each root: what a refused statement must leave alone. */
    private static Map<String, Object> fingerprint(Vm vm) {
        Map<String, Object> f = new TreeMap<>(vm.stats());
        for (long gpa : new long[] { 0, K4, 2L << 20, (4L << 20) - K4, 8L << 20, 1L << 30 })
            for (RootKind root : RootKind.values())
                f.put(root + "@" + Long.toHexString(gpa), vm.walk(gpa, root));
        return f;
    }
}
