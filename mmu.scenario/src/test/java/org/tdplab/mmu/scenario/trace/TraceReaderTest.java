package org.tdplab.mmu.scenario.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.List;

import org.junit.jupiter.api.Test;

/** {@code trace-cmd report} text back into events: ours, and the kernel's with its header and flags column. */
class TraceReaderTest {
    private static TraceReader.Trace read(String text) throws IOException {
        return TraceReader.read(new BufferedReader(new StringReader(text)));
    }

    @Test
    void readsWhatTheWriterWrites() throws IOException {
        java.io.StringWriter w = new java.io.StringWriter();
        TraceWriter t = new TraceWriter(w);
        t.vmOperation("run-1/td", "KVM_CREATE_VM type=tdx vcpus=1 gpaw=48 shared_bit=47");
        t.faultEntered("run-1/td", 0, 0x1000, 0x2000000000004L);
        t.spteChanged("run-1/td", 0, org.tdplab.mmu.api.RootKind.MIRROR, 1, 1, 0x8000000000000000L, 0x617L);
        t.close();
        TraceReader.Trace trace = read(w.toString());
        List<TraceEvent> e = trace.events();
        assertEquals(3, e.size());
        assertEquals("tdplab", e.get(0).task());
        assertEquals("tdplab_vm_op", e.get(0).name());
        assertEquals("KVM_CREATE_VM type=tdx vcpus=1 gpaw=48 shared_bit=47", e.get(0).fields());
        assertEquals("CPU 0/KVM", e.get(1).task());
        assertEquals("CPU 0/KVM-1000", e.get(2).thread());
        assertEquals("td", trace.vm(e.get(2)));
        assertEquals("2000000000004", TraceReader.field(e.get(1).fields(), "error_code").substring(2));
        assertEquals(4, e.get(1).line());
    }

    @Test
    void readsTheKernelsReportWithHeadersAndTheFlagsColumn() throws IOException {
        TraceReader.Trace trace = read("""
                cpus=2
                CPU 1 is empty
                 CPU 0/KVM-4242  [000] d..1.  1234.000010: kvm_page_fault: vcpu 0 rip 0xffffffff81000000 \
                address 0x00000000fee00000 error_code 0x181
                 CPU 0/KVM-4242  [000] .....  1234.000012: kvm_tdp_mmu_spte_changed: as id 0 gfn ffc00 level 2 \
                old_spte 800000010bc97907 new_spte 80000000000005a0
                """);
        assertEquals(2, trace.events().size());
        assertEquals("kvm_tdp_mmu_spte_changed", trace.events().get(1).name());
        assertEquals("ffc00", TraceReader.field(trace.events().get(1).fields(), "gfn"));
        assertEquals("pid 4242", trace.vm(trace.events().get(0)));
    }

    @Test
    void aLineOfAnotherShapeIsAnErrorNamingIt() {
        IOException e = assertThrows(IOException.class, () -> read("# tracer: nop\nhello world\n"));
        assertEquals("line 2: not a trace-cmd report event: 'hello world'", e.getMessage());
    }
}
