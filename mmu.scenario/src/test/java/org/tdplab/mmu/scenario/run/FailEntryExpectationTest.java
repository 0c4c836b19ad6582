package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code expect exit fail_entry [reason=R]}: an SNP vCPU run before {@code snp.launch_finish} ends in
 * {@code KVM_EXIT_FAIL_ENTRY} with {@code SVM_EXIT_ERR}; the expectation holds with and without the reason, fails on
 * another reason or another exit, and an unnamed fail-entry exit fails the scenario like any other exit. {@code KVM_RUN}
 * returned no errno, so {@code expect error} does not hold. A workload meeting it fails with EFAULT, naming the exit.
 */
class FailEntryExpectationTest {
    @TempDir
    Path dir;
    Harness h;

    @BeforeEach
    void setUp() {
        h = new Harness(dir);
    }

    private static final String SETUP = """
            vm.create sev type=snp vcpus=2
            slot.add sev 1 gpa=0 size=4M flags=gmem
            attr.set sev gpa=0 size=4M private
            """;

    private static final String WHY = "(VMRUN failed (VMEXIT_INVALID): vCPU 0's VMSA is no guest VMSA page: VM 'sev' is "
            + "not launched (snp.launch_finish first))";

    @Test
    void holdsWithAndWithoutTheReasonThenTheVcpuEntersAfterTheFinish() throws Exception {
        Harness.Result r = h.run(SETUP + """
                guest sev vcpu=0 read gpa=0
                expect exit fail_entry
                guest sev vcpu=1 write gpa=0 size=8K private
                expect exit fail_entry reason=0xffffffffffffffff
                guest sev vcpu=0 accept gpa=0 size=4K
                expect exit fail_entry reason=18446744073709551615
                snp.launch_finish sev
                guest sev vcpu=0 accept gpa=0 size=8K
                guest sev vcpu=1 write gpa=0 size=8K value=3
                guest sev vcpu=0 read gpa=0 size=8K
                expect value 3
                """);
        assertEquals("t.scn: 10 statements, 4 expectations, ok\n1 passed, 0 failed\n", r.out());
        assertEquals(0, r.status());
    }

    @Test
    void failsOnAnotherReasonAnotherExitOrAnErrnoAndAnUnnamedOneFailsTheScenario() throws Exception {
        Harness.Result r = h.run(SETUP + """
                guest sev vcpu=0 read gpa=0
                expect exit fail_entry reason=0
                guest sev vcpu=0 read gpa=0
                expect error EFAULT
                expect exit fail_entry
                guest sev vcpu=0 read gpa=0
                guest sev vcpu=0 read gpa=0 shared
                expect exit fail_entry
                """);
        assertEquals(1, r.status(), r.out());
        assertEquals("t.scn:5: expected exit fail_entry reason=0; found exit fail_entry reason=0xffffffffffffffff\n"
                + "    after line 4: guest sev vcpu=0 read gpa=0\n"
                + "t.scn:7: expected error EFAULT; found no error (exit fail_entry reason=0xffffffffffffffff " + WHY
                + " after 0 pages)\n"
                + "    after line 6: guest sev vcpu=0 read gpa=0\n"
                + "t.scn:9: expected the access to complete; found exit fail_entry reason=0xffffffffffffffff " + WHY
                + " after 0 pages\n"
                + "    guest sev vcpu=0 read gpa=0\n"
                + "    (if that is intended, write 'expect exit fail_entry reason=0xffffffffffffffff' after it)\n"
                // a shared access runs (the VMM's, by the model's convention), here into a private page
                + "t.scn:11: expected exit fail_entry; found exit memory_fault gpa=0x0 size=4K shared\n"
                + "    after line 10: guest sev vcpu=0 read gpa=0 shared", r.failures());
    }

    @Test
    void aWorkloadBeforeTheFinishFailsWithEfaultNamingTheExit() throws Exception {
        Harness.Result r = h.run(SETUP + """
                run sev demand_paging gpa=0 size=4M vcpus=1
                expect error EFAULT
                run sev demand_paging gpa=0 size=4M vcpus=1
                """);
        assertEquals(1, r.status(), r.out());
        assertEquals("t.scn:6: expected run to succeed; found EFAULT: run demand_paging: vCPU 0: accept ended in exit "
                + "fail_entry reason=0xffffffffffffffff " + WHY + "\n"
                + "    run sev demand_paging gpa=0 size=4M vcpus=1\n"
                + "    (if that is intended, write 'expect error EFAULT' after it)", r.failures());
    }
}
