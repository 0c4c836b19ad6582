package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.scenario.lang.Fixtures.error;
import static org.tdplab.mmu.scenario.lang.Fixtures.errors;
import static org.tdplab.mmu.scenario.lang.Fixtures.script;

import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/** Where expectations may stand and which statement each applies to. */
class ExpectationsTest {
    @Test
    void groupsEachStatementWithTheExpectationsAfterIt() {
        Script sc = script(String.join("\n",
                "expect vm vm0 alive          # state now: before any statement",
                "vm.create vm0 type=sw_protected",
                "slot.add vm0 1 gpa=0 size=2M flags=gmem",
                "",
                "# a comment between a statement and its expectation",
                "slot.add vm0 2 gpa=0 size=4K",
                "expect error EEXIST",
                "expect stat vm0 pages_4k = 0",
                "guest vm0 vcpu=0 read gpa=0",
                "expect spte vm0 gpa=0 present",
                "expect value 0"));
        List<Step> steps = sc.steps();
        assertEquals(5, steps.size());
        assertEquals(Optional.empty(), steps.get(0).statement());
        assertEquals(1, steps.get(0).line());
        assertEquals(ExpectKind.VM, steps.get(0).expectations().get(0).expectKind());
        assertEquals(Optional.empty(), steps.get(0).expectations().get(0).subject());

        assertEquals("vm.create", steps.get(1).statement().orElseThrow().verb());
        assertEquals(List.of(), steps.get(1).expectations());
        assertEquals(List.of(), steps.get(2).expectations());

        Step dup = steps.get(3);
        assertEquals(6, dup.line());
        assertEquals(List.of(ExpectKind.ERROR, ExpectKind.STAT),
                dup.expectations().stream().map(Statement::expectKind).toList());
        for (Statement e : dup.expectations())
            assertSame(dup.statement().orElseThrow(), e.subject().orElseThrow());

        Step read = steps.get(4);
        assertEquals(List.of(10, 11), read.expectations().stream().map(Statement::line).toList());
        // an outcome expectation after a state expectation still applies to the statement
        assertSame(read.statement().orElseThrow(), read.expectations().get(1).subject().orElseThrow());
        assertEquals(9, sc.statements().size());
        assertEquals("t.scn", sc.file());
    }

    @Test
    void outcomeExpectationsNeedAStatementBefore() {
        assertEquals("t.scn:1:1: expect error: no statement before it to apply to", error("expect error EINVAL"));
        assertEquals("t.scn:3:1: expect exit mmio: no statement before it to apply to",
                error("# header\nexpect spte vm0 gpa=0 absent\nexpect exit mmio gpa=0"));
        assertEquals("t.scn:1:3: expect exception: no statement before it to apply to", error("  expect exception VE"));
        assertEquals("t.scn:1:1: expect value: no statement before it to apply to", error("expect value 1"));
        assertEquals("t.scn:1:1: expect exit memory_fault: no statement before it to apply to",
                error("expect exit memory_fault gpa=0 size=4K private"));
    }

    @Test
    void failEntryParsesWithAndWithoutAReasonAfterAGuestStatementOnly() {
        Script sc = script("guest vm0 vcpu=0 read gpa=0\nexpect exit fail_entry\nexpect exit fail_entry reason=0xffffffffffffffff"
                + "\nexpect exit fail_entry reason=18446744073709551615\nexpect exit fail_entry reason=0x80000021");
        List<Statement> e = sc.statements().subList(1, 5);
        assertEquals(List.of(ExpectKind.EXIT_FAIL_ENTRY), e.stream().map(Statement::expectKind).distinct().toList());
        assertEquals(List.of("exit", "fail_entry"), e.get(0).words());
        assertFalse(e.get(0).hasOption("reason"));
        assertEquals(-1L, e.get(1).number("reason"), "a 64-bit reason, as the kernel's __u64");
        assertEquals(-1L, e.get(2).number("reason"));
        assertEquals(0x80000021L, e.get(3).number("reason"));
        assertEquals("exit fail_entry", ExpectKind.EXIT_FAIL_ENTRY.words());
        assertEquals("t.scn:2:1: expect exit fail_entry: applies to a guest access, but the statement before it "
                + "(line 1) is 'snp.launch_finish'", error("snp.launch_finish vm0\nexpect exit fail_entry"));
        assertEquals("t.scn:1:1: expect exit fail_entry: no statement before it to apply to",
                error("expect exit fail_entry reason=0"));
        for (String g : List.of("read gpa=0", "write gpa=0", "exec gpa=0", "convert private gpa=0 size=4K",
                "accept gpa=0 size=4K"))
            script("guest vm0 vcpu=0 " + g + "\nexpect exit fail_entry reason=1");
    }

    @Test
    void exitsAndExceptionsFollowGuestStatements() {
        assertEquals("t.scn:2:1: expect exit mmio: applies to a guest access, but the statement before it (line 1) "
                + "is 'zap'", error("zap vm0 gpa=0 size=4K\nexpect exit mmio gpa=0"));
        assertEquals("t.scn:3:1: expect exception: applies to a guest access, but the statement before it (line 1) "
                + "is 'prefault'", error("prefault vm0 gpa=0 size=4K\nexpect error EIO\nexpect exception PF"));
        assertEquals("t.scn:2:1: expect exit memory_fault: applies to a guest access, but the statement before it "
                + "(line 1) is 'run'",
                error("run vm0 conversions gpa=0 size=2M vcpus=2\nexpect exit memory_fault gpa=0 size=4K shared"));
        // any guest statement may exit or raise an exception
        for (String g : List.of("read gpa=0", "write gpa=0", "exec gpa=0", "convert private gpa=0 size=4K",
                "accept gpa=0 size=4K"))
            script("guest vm0 vcpu=0 " + g + "\nexpect exit memory_fault gpa=0 size=4K private\nexpect exception VC"
                    + "\nexpect exit mmio gpa=0");
    }

    @Test
    void valuesFollowGuestReads() {
        script("guest vm0 vcpu=0 read gpa=0\nexpect value 0");
        script("guest vm0 vcpu=0 exec gpa=0\nexpect value 0");
        assertEquals("t.scn:2:1: expect value: applies to a guest read or exec, but the statement before it (line 1) "
                + "is 'guest write'", error("guest vm0 vcpu=0 write gpa=0\nexpect value 0"));
        assertEquals("t.scn:3:1: expect value: applies to a guest read or exec, but the statement before it (line 1) "
                + "is 'guest convert'", error("guest vm0 vcpu=0 convert shared gpa=0 size=4K\n\nexpect value 0"));
        assertEquals("t.scn:2:1: expect value: applies to a guest read or exec, but the statement before it (line 1) "
                + "is 'check'", error("check vm0\nexpect value 0"));
    }

    @Test
    void resultsFollowAgingAndRemaindersFollowPopulatingStatements() {
        script("age vm0 gpa=0 size=4K\nexpect result 0");
        script("test_age vm0 gpa=0 size=4K\nexpect result 1\nexpect error EIO");
        script("prefault vm0 gpa=0 size=8K\nexpect remaining gpa=0x1000 size=4K");
        script("tdx.init_mem_region vm0 gpa=0 size=8K\nexpect remaining gpa=0 size=0");
        script("snp.launch_update vm0 gpa=0 size=8K\nexpect remaining gpa=0 size=0");
        assertEquals("t.scn:2:1: expect result: applies to age, test_age or a backend verb, but the statement before it (line 1) "
                + "is 'zap'", error("zap vm0 gpa=0 size=4K\nexpect result 0"));
        assertEquals("t.scn:2:1: expect remaining: applies to prefault or a backend verb, but the statement before it "
                + "(line 1) is 'slot.add'", error("slot.add vm0 1 gpa=0 size=4K\nexpect remaining gpa=0 size=0"));
        assertEquals("t.scn:1:1: expect result: no statement before it to apply to", error("expect result 1"));
    }

    @Test
    void errorsFollowAnyStatement() {
        Script sc = script(String.join("\n", "vm.create vm0 type=nope", "expect error ENODEV",
                "tdx.finalize vm0", "expect error EPERM", "run vm0 dirty_log gpa=0 size=2M vcpus=1",
                "expect error EINVAL", "guest vm0 vcpu=0 accept gpa=0 size=4K", "expect error ENOTSUP"));
        assertEquals(4, sc.steps().size());
        sc.steps().forEach(s -> assertEquals(1, s.expectations().size()));
    }

    @Test
    void stateExpectationsStandAnywhere() {
        Script sc = script(String.join("\n", "expect spte vm0 gpa=0 absent", "expect stat vm0 pages_4k = 0",
                "expect vm vm0 alive", "expect dirty vm0 1 count=0", "expect dirty vm0 1 gpa=0 clear",
                "expect vm vm0 dead"));
        assertEquals(1, sc.steps().size());
        assertEquals(6, sc.steps().get(0).expectations().size());
        assertFalse(sc.steps().get(0).statement().isPresent());
    }

    @Test
    void aBrokenStatementDoesNotAlsoBreakItsExpectations() {
        // only the malformed statement is reported, not the expectation that follows it
        assertEquals(List.of("t.scn:1:1: unknown verb 'zapp' (verbs: age, check, expect, guest, prefault, run, "
                + "test_age, zap; namespaces: attr, dirty, gmem, notify, slot, snp, tdx, vm)"),
                errors("zapp vm0\nexpect value 1\nexpect exit mmio gpa=0"));
        // a broken expectation leaves the statement before it in place for the next
        assertEquals(List.of("t.scn:2:14: expect error: NAME: bad value 'EWHAT' (EINVAL, EEXIST, ENOENT, EFAULT, EIO, "
                + "EAGAIN, EBUSY, ENODEV, ENOTSUP, EPERM, ENOMEM, ENOSPC or E2BIG)"),
                errors("guest vm0 vcpu=0 read gpa=0\nexpect error EWHAT\nexpect value 1"));
    }

    @Test
    void kindsAreOutcomeOrState() {
        assertTrue(ExpectKind.ERROR.isOutcome());
        assertTrue(ExpectKind.EXIT_MMIO.isOutcome());
        assertTrue(ExpectKind.VALUE.isOutcome());
        assertTrue(ExpectKind.RESULT.isOutcome());
        assertTrue(ExpectKind.REMAINING.isOutcome());
        assertFalse(ExpectKind.SPTE.isOutcome());
        assertFalse(ExpectKind.DIRTY_BIT.isOutcome());
        assertEquals("exit memory_fault", ExpectKind.EXIT_MEMORY_FAULT.words());
    }
}
