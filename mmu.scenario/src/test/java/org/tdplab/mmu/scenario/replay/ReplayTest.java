package org.tdplab.mmu.scenario.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.trace.TraceReader;
import org.tdplab.mmu.scenario.trace.TraceWriter;
import org.tdplab.mmu.tdp.vm.Standalone;

/** A trace's operations and faults, replayed: the same type reproduces it; another type or a changed trace shows. */
class ReplayTest {
    /**
     * Scenarios whose trace depends on more than the operations and faults it records: workload threads race (which
     * vCPU maps a page first), and injected TDX_OPERAND_BUSY needs vCPUs inside the TD, which a replay has not.
     */
    private static final List<String> TIMING_DEPENDENT = List.of("13-workloads.scn", "14-large-guest.scn", "snp-workloads.scn",
            "tdx-workloads.scn", "tdx-huge-pages-workloads.scn", "tdx-busy-injection.scn");

    @TempDir
    Path dir;
    private final VmManager manager = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(),
            new TdxBackend(), new SnpBackend());

    private String trace(String scenario) throws IOException {
        return trace(Files.writeString(dir.resolve("t.scn"), scenario));
    }

    private String trace(Path scenario) {
        StringWriter w = new StringWriter();
        TraceWriter t = new TraceWriter(w);
        manager.addObserver(t);
        PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        int status = new Runner(manager, sink, sink).run(List.of(scenario.toString()), false);
        manager.removeObserver(t);
        t.close();
        assertEquals(Runner.OK, status, scenario + " must hold before it is replayed");
        return w.toString();
    }

    private ReplayResult replay(String trace, String type) throws IOException {
        return replay(trace, type, true);
    }

    /** {@code checked}: the checker after every step (it runs at each VM's end anyway). */
    private ReplayResult replay(String trace, String type, boolean checked) throws IOException {
        return new Replayer(manager, new Replayer.Options(type, Map.of(), checked, false)).run(
                TraceReader.read(new BufferedReader(new StringReader(trace))));
    }

    private static String printed(ReplayResult r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        r.print(new PrintStream(out, true, StandardCharsets.UTF_8), 50);
        return out.toString(StandardCharsets.UTF_8);
    }

    private static final String TD = """
            vm.create td type=tdx vcpus=1
            slot.add td 0 gpa=0 size=4M flags=gmem backing=2M
            attr.set td gpa=0 size=4M private
            tdx.finalize td
            guest td vcpu=0 accept gpa=0 size=64K level=4K
            guest td vcpu=0 write gpa=0 size=64K
            guest td vcpu=0 convert shared gpa=0x8000 size=16K
            guest td vcpu=0 write gpa=0x8000 size=16K shared
            """;

    @TestFactory
    Stream<DynamicTest> everyLibraryScenarioReplaysExactlyOnItsOwnType() throws IOException {
        Path scenarios = org.tdplab.mmu.scenario.run.LibraryPaths.scenarios();
        try (Stream<Path> files = Files.list(scenarios)) {
            List<Path> list = files.filter(p -> p.toString().endsWith(".scn"))
                    .filter(p -> !TIMING_DEPENDENT.contains(p.getFileName().toString())).sorted().toList();
            assertTrue(list.size() > 20, list.toString());
            return list.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
                ReplayResult r = replay(trace(f), null, false);
                assertTrue(r.identical(), printed(r));
            }));
        }
    }

    @Test
    void aTdReplaysOnItsOwnTypeStepForStep() throws IOException {
        String trace = trace(TD);
        ReplayResult r = replay(trace, null);
        assertTrue(r.identical(), printed(r));
        String out = printed(r);
        assertTrue(out.contains("VM td (tdx): 20 faults, 6 operations, no step differs"), out);
        assertTrue(out.endsWith("no differences\n"), out);
        assertTrue(manager.vms().isEmpty(), "the replay's VMs are gone: " + manager.vms());
    }

    @Test
    void anotherVmTypeShowsWhereItMapsDifferently() throws IOException {
        ReplayResult r = replay(trace(TD), "sw_protected");
        assertFalse(r.identical());
        String out = printed(r);
        // the TD maps private memory at 4K under a fresh 2M table; sw_protected maps the folio at 2M
        assertTrue(out.contains("""
                    - gfn 0 level 2: none -> table   (only in the trace)
                """), out);
        assertTrue(out.contains("    + gfn 0 level 2: none -> leaf rwx   (only in the replay)\n"), out);
        assertTrue(out.contains("VM td (tdx → sw_protected)"), out);
        assertTrue(out.contains("skipped 1 × backend_verb (finalize is not a verb of sw_protected)"), out);
        assertTrue(out.contains("guest_accept (sw_protected guests do not accept memory)"), out);
        assertTrue(r.violations().isEmpty(), r.violations().toString());
    }

    @Test
    void aChangedTraceLineIsTheStepReported() throws IOException {
        String trace = trace(TD);
        List<String> lines = trace.lines().toList();
        // make the first 4K private leaf of the trace a 2M one
        int at = -1;
        for (int i = 0; i < lines.size() && at < 0; i++)
            if (lines.get(i).contains("kvm_tdp_mmu_spte_changed") && lines.get(i).contains(" level 1 old_spte"))
                at = i;
        assertTrue(at > 0, trace);
        String changed = lines.get(at).replace(" level 1 old_spte", " level 2 old_spte");
        String tampered = String.join("\n", lines.subList(0, at)) + "\n" + changed + "\n"
                + String.join("\n", lines.subList(at + 1, lines.size())) + "\n";
        ReplayResult r = replay(tampered, null);
        assertEquals(1, r.differenceCount(), printed(r));
        int faultLine = 0;
        for (int i = at; i >= 0 && faultLine == 0; i--)
            if (lines.get(i).contains("kvm_page_fault:") || lines.get(i).contains("tdplab_vm_op:"))
                faultLine = i + 1;
        assertEquals(List.of(faultLine), r.differingLines(), printed(r));
        // a leaf without the large-page bit at level 2 reads as a table
        assertTrue(printed(r).contains("""
                    - gfn 0 level 2: none -> table   (only in the trace)
                    + gfn 0 level 1: none -> leaf rwx   (only in the replay)
                """), printed(r));
    }

    @Test
    void aTraceWithoutItsOperationStreamIsRefused() throws IOException {
        String kernel = " CPU 0/KVM-4242  [000] d..1.  1234.000010: kvm_page_fault: vcpu 0 rip 0x0 address "
                + "0x0000000000001000 error_code 0x6\n";
        MmuException e = assertThrows(MmuException.class, () -> replay(kernel, "default"));
        assertTrue(e.getMessage().contains("VM 'pid 4242' has no KVM_CREATE_VM before line 1"), e.getMessage());
    }
}
