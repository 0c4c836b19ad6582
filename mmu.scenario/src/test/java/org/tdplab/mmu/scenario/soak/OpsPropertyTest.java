package org.tdplab.mmu.scenario.soak;

import java.util.List;

import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Random operation sequences on every VM type — accesses, conversions, accepts, prefault, zaps, unmaps, aging,
 * attributes, punches, memslot deletes and adds, dirty logging, NX recovery — with the invariant checker and the
 * data oracle after each step. A failure shrinks to the fewest, smallest operations and its message is the scenario
 * file that reproduces it ({@code ./tdplab run --checked}). Tries: {@code jqwik.tries.default} (10 in
 * {@code junit-platform.properties}; {@code -Djqwik.tries.default=2000} for a long run).
 */
class OpsPropertyTest {
    static final VmManager MANAGER = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(),
            new TdxBackend(), new SnpBackend(), new BuggyBackend());

    /** Raw numbers for {@link Layout#op}: jqwik shrinks them towards an access of one page at GPA 0 on vCPU 0. */
    @Provide
    Arbitrary<List<int[]>> sequences() {
        Arbitrary<int[]> op = Combinators.combine(Arbitraries.integers().between(0, 63),
                Arbitraries.integers().between(0, 1), Arbitraries.integers().between(0, 1535),
                Arbitraries.integers().between(0, 511), Arbitraries.integers().between(0, 0xffff))
                .as((k, v, p, n, a) -> new int[] { k, v, p, n, a });
        return op.list().ofMinSize(1).ofMaxSize(40);
    }

    static List<Op> ops(Layout layout, List<int[]> raw) {
        return raw.stream().map(r -> layout.op(r[0], r[1], r[2], r[3], r[4])).toList();
    }

    static void holds(String type, List<int[]> raw) {
        Layout layout = Layout.of(type, 2);
        Trial.Verdict v = Trial.run(MANAGER, layout, ops(layout, raw));
        if (v.failed())
            throw new AssertionError("a violation at step " + (v.failedAt() + 1) + "; as a scenario:\n"
                    + v.scenario("found by OpsPropertyTest (" + type + ")"));
    }

    @Property
    void ordinaryVm(@ForAll("sequences") List<int[]> raw) {
        holds("default", raw);
    }

    @Property
    void softwareProtectedVm(@ForAll("sequences") List<int[]> raw) {
        holds("sw_protected", raw);
    }

    @Property
    void trustDomain(@ForAll("sequences") List<int[]> raw) {
        holds("tdx", raw);
    }

    @Property
    void snpGuest(@ForAll("sequences") List<int[]> raw) {
        holds("snp", raw);
    }
}
