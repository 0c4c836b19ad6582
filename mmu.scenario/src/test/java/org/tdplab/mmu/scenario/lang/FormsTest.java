package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.scenario.lang.Fixtures.one;
import static org.tdplab.mmu.scenario.lang.Fixtures.script;

import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every core form parses, and the typed accessors return what was written. */
class FormsTest {
    @Test
    void vmCreate() {
        Statement s = one("vm.create td0 type=tdx vcpus=4 gpaw=52 module=1.0 seed=0x10");
        assertEquals("vm.create", s.verb());
        assertEquals("td0", s.vm());
        assertEquals("tdx", s.word("type"));
        assertEquals(4, s.number("vcpus"));
        assertEquals(52, s.number("gpaw"));
        assertEquals(Map.of("module", "1.0", "seed", "0x10"), s.extraOptions());
        assertEquals(16, s.number("seed")); // a free value is parsed on demand
        assertThrows(IllegalStateException.class, () -> s.number("module"));
        assertEquals(List.of("type", "vcpus", "gpaw", "module", "seed"), List.copyOf(s.options().keySet()));
        assertEquals(1, s.optionalNumber("absent", 1));
        assertFalse(s.isExpectation());
        assertThrows(IllegalStateException.class, s::expectKind);
        assertEquals(Optional.empty(), s.subject());
    }

    @Test
    void vmCreateMinimal() {
        Statement s = one("vm.create vm0 type=default");
        assertEquals(1, s.optionalNumber("vcpus", 1));
        assertEquals(48, s.optionalNumber("gpaw", 48));
        assertEquals(Map.of(), s.extraOptions());
        assertEquals("sw_protected", one("vm.create vm-1 type=sw_protected").word("type"));
    }

    @Test
    void vmDestroy() {
        assertEquals("vm0", one("vm.destroy vm0").vm());
    }

    @Test
    void slotAdd() {
        Statement s = one("slot.add vm0 1 gpa=0x100000000 size=1G flags=gmem,dirty_log backing=2M");
        assertEquals(1, s.number("ID"));
        assertEquals(0x100000000L, s.number("gpa"));
        assertEquals(1L << 30, s.number("size"));
        assertEquals(List.of("gmem", "dirty_log"), s.list("flags"));
        assertEquals(Level.L2M, s.level("backing"));
        assertEquals(Optional.of(Level.L2M), s.optionalLevel("backing"));
        Statement m = one("slot.add vm0 0 size=4K gpa=0");
        assertEquals(List.of(), m.list("flags"));
        assertEquals(Optional.empty(), m.optionalLevel("backing"));
        assertEquals(List.of("readonly"), one("slot.add vm0 0 gpa=0 size=4K flags=readonly").list("flags"));
        assertEquals(Level.L1G, one("slot.add vm0 0 gpa=0 size=1G backing=1G").level("backing"));
        assertEquals(Level.L4K, one("slot.add vm0 0 gpa=0 size=1G backing=4k").level("backing"));
        assertEquals(Level.L2M, one("slot.add vm0 0 gpa=0 size=1G backing=0x200000").level("backing"));
    }

    @Test
    void bareWordsAreTheFlagsOfAListOption() { // the contract's lexical rules: "bare words are flags (gmem, …)"
        assertEquals(List.of("gmem"), one("slot.add vm0 0 gpa=0 size=4M gmem").list("flags"));
        assertEquals(List.of("gmem", "dirty_log"), one("slot.add vm0 0 gpa=0 size=4M gmem dirty_log").list("flags"));
        assertEquals(List.of("readonly", "gmem"),
                one("slot.add vm0 0 gpa=0 size=4M flags=readonly gmem").list("flags"));
        assertTrue(Fixtures.error("slot.add vm0 0 gpa=0 size=4M gmemm").contains("gmemm"));
    }

    @Test
    void slotDeleteMoveLog() {
        assertEquals(3, one("slot.delete vm0 3").number("ID"));
        Statement mv = one("slot.move vm0 3 gpa=2G");
        assertEquals(1L << 31, mv.number("gpa"));
        Statement on = one("slot.log vm0 3 on");
        assertTrue(on.has("on"));
        assertEquals(Optional.of("on"), on.choice("on", "off"));
        assertEquals("", on.mode());
        Statement off = one("slot.log vm0 3 off eager_split=off initially_set=on");
        assertEquals(Optional.of("off"), off.choice("on", "off"));
        assertEquals("off", off.word("eager_split"));
        assertEquals("on", off.optionalWord("initially_set", "off"));
        assertEquals("on", on.optionalWord("eager_split", "on"));
        // options and flags in any order
        assertTrue(one("slot.log vm0 3 eager_split=on on").has("on"));
    }

    @Test
    void attrSetPunchPrefaultZapNotifyAgeCheck() {
        Statement a = one("attr.set vm0 gpa=0 size=2M private");
        assertEquals(Optional.of("private"), a.choice("private", "shared"));
        assertEquals(Optional.of("shared"), one("attr.set vm0 shared gpa=0 size=2M").choice("private", "shared"));
        for (String v : List.of("gmem.punch", "zap", "notify.unmap", "age", "test_age")) {
            Statement s = one(v + " vm0 gpa=0x200000 size=2M");
            assertEquals(v, s.verb());
            assertEquals(0x200000, s.number("gpa"));
        }
        assertEquals(-1, one("prefault vm0 gpa=0 size=4K").optionalNumber("vcpu", -1));
        assertEquals(2, one("prefault vm0 gpa=0 size=4K vcpu=2").optionalNumber("vcpu", -1));
        assertEquals("vm0", one("check vm0").vm());
    }

    @Test
    void dirtyGetClear() {
        assertEquals(1, one("dirty.get vm0 1").number("ID"));
        Statement all = one("dirty.clear vm0 1");
        assertFalse(all.hasOption("gpa"));
        Statement part = one("dirty.clear vm0 1 gpa=0x1000 size=8K");
        assertEquals(0x1000, part.number("gpa"));
        assertEquals(0x2000, part.number("size"));
    }

    @Test
    void guestAccesses() {
        Statement r = one("guest vm0 vcpu=0 read gpa=0x1000");
        assertEquals("guest", r.verb());
        assertEquals("read", r.mode());
        assertTrue(r.has("read"));
        assertEquals(0, r.number("vcpu"));
        assertEquals(4096, r.optionalNumber("size", 4096));
        assertEquals(Optional.empty(), r.choice("private", "shared"));
        Statement w = one("guest vm0 vcpu=1 write gpa=0x800000000000|0x1000 size=8K shared value=0xdead");
        assertEquals("write", w.mode());
        assertEquals(0x800000001000L, w.number("gpa"));
        assertEquals(Optional.of("shared"), w.choice("private", "shared"));
        assertEquals(0xdead, w.number("value"));
        assertEquals("exec", one("guest vm0 vcpu=0 exec gpa=0 private").mode());
        // the mode word may stand anywhere after the VM
        assertEquals("write", one("guest vm0 gpa=0 vcpu=0 value=1 write").mode());
    }

    @Test
    void guestConvertAndAccept() {
        Statement c = one("guest vm0 vcpu=0 convert shared gpa=0 size=2M");
        assertEquals("convert", c.mode());
        assertEquals(Optional.of("shared"), c.choice("private", "shared"));
        Statement a = one("guest vm0 vcpu=0 accept gpa=0 size=2M level=2M");
        assertEquals("accept", a.mode());
        assertEquals(Level.L2M, a.level("level"));
        assertEquals(Optional.empty(), one("guest vm0 vcpu=0 accept gpa=0 size=4K").optionalLevel("level"));
    }

    @Test
    void run() {
        Statement s = one("run vm0 demand_paging gpa=4G size=1G vcpus=8 iterations=3 partition=on");
        assertEquals("demand_paging", s.word("WORKLOAD"));
        assertEquals(8, s.number("vcpus"));
        assertEquals(Map.of("iterations", "3", "partition", "on"), s.extraOptions());
        for (String w : CoreVerbs.WORKLOADS)
            assertEquals(w, one("run vm0 " + w + " gpa=0 size=2M vcpus=1").word("WORKLOAD"));
    }

    @Test
    void expectations() {
        Script sc = script(String.join("\n",
                "guest vm0 vcpu=0 read gpa=0",
                "expect error EINVAL",
                "expect exit memory_fault gpa=0x1000 size=4K private",
                "expect exit mmio gpa=0xfee00000",
                "expect exception VE",
                "expect value 0x1000",
                "expect spte vm0 gpa=0 present level=2M root=mirror writable=no",
                "expect stat vm0 TDH.MEM.PAGE.AUG >= 512",
                "expect vm vm0 bugged",
                "expect dirty vm0 1 count=0",
                "expect dirty vm0 1 gpa=0x2000 clear"));
        List<Statement> e = sc.statements().subList(1, 11);
        assertEquals(List.of(ExpectKind.ERROR, ExpectKind.EXIT_MEMORY_FAULT, ExpectKind.EXIT_MMIO,
                ExpectKind.EXCEPTION, ExpectKind.VALUE, ExpectKind.SPTE, ExpectKind.STAT, ExpectKind.VM,
                ExpectKind.DIRTY_COUNT, ExpectKind.DIRTY_BIT), e.stream().map(Statement::expectKind).toList());
        assertEquals("EINVAL", e.get(0).word("NAME"));
        assertEquals(List.of("exit", "memory_fault"), e.get(1).words());
        assertEquals(Optional.of("private"), e.get(1).choice("private", "shared"));
        assertEquals(4096, e.get(1).number("size"));
        assertEquals(0xfee00000L, e.get(2).number("gpa"));
        assertEquals("VE", e.get(3).word("NAME"));
        assertEquals(0x1000, e.get(4).number("V"));
        Statement spte = e.get(5);
        assertEquals("vm0", spte.vm());
        assertTrue(spte.has("present"));
        assertEquals(Level.L2M, spte.level("level"));
        assertEquals("mirror", spte.word("root"));
        assertEquals("no", spte.word("writable"));
        Statement stat = e.get(6);
        assertEquals("TDH.MEM.PAGE.AUG", stat.word("NAME"));
        assertEquals(">=", stat.word("OP"));
        assertEquals(512, stat.number("N"));
        assertTrue(e.get(7).has("bugged"));
        assertEquals(0, e.get(8).number("count"));
        assertEquals("", e.get(8).mode());
        assertEquals("clear", e.get(9).mode());
        assertEquals(0x2000, e.get(9).number("gpa"));
        for (Statement x : e) {
            assertTrue(x.isExpectation());
            assertEquals("expect", x.verb());
            assertEquals(sc.statements().get(0), x.subject().orElseThrow());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = { "EINVAL", "EEXIST", "ENOENT", "EFAULT", "EIO", "EAGAIN", "EBUSY", "ENODEV", "ENOTSUP",
            "EPERM", "ENOMEM", "ENOSPC", "E2BIG" })
    void everyErrno(String name) {
        assertEquals(name, script("check vm0\nexpect error " + name).statements().get(1).word("NAME"));
    }

    @ParameterizedTest
    @ValueSource(strings = { "VE", "VC", "PF", "GP", "MC" })
    void everyException(String name) {
        assertEquals(name, script("guest vm0 vcpu=0 read gpa=0\nexpect exception " + name).statements().get(1)
                .word("NAME"));
    }

    @ParameterizedTest
    @ValueSource(strings = { "=", "!=", "<", "<=", ">", ">=" })
    void everyOperator(String op) {
        assertEquals(op, one("expect stat vm0 pages_4k " + op + " 1").word("OP"));
    }

    @Test
    void doubleEqualsIsEquals() {
        Statement s = one("expect stat vm0 pages_2m == 0x10");
        assertEquals("=", s.word("OP"));
        assertEquals("==", s.value("OP").text());
        assertEquals(16, s.number("N"));
    }

    @Test
    void stateExpectationsMayComeFirst() {
        assertEquals(ExpectKind.SPTE, one("expect spte vm0 gpa=0 absent").expectKind());
        assertEquals(ExpectKind.STAT, one("expect stat vm0 pages_4k = 0").expectKind());
        assertEquals(ExpectKind.VM, one("expect vm vm0 alive").expectKind());
        assertEquals(ExpectKind.DIRTY_BIT, one("expect dirty vm0 0 gpa=0 set").expectKind());
        assertEquals(ExpectKind.DIRTY_COUNT, one("expect dirty vm0 0 count=3").expectKind());
    }

    @Test
    void levelsAsPageSizes() {
        for (String l : List.of("4K", "4k", "4096", "0x1000", "0X1000"))
            assertEquals(Level.L4K, one("expect spte vm0 gpa=0 present level=" + l).level("level"));
        for (String l : List.of("2M", "2m", "2048K", "0x200000"))
            assertEquals(Level.L2M, one("expect spte vm0 gpa=0 present level=" + l).level("level"));
        assertEquals(Level.L1G, one("expect spte vm0 gpa=0 present level=1g").level("level"));
        assertEquals(1, Level.L4K.number());
        assertEquals(3, Level.L1G.number());
        assertEquals("2M", Level.L2M.toString());
    }

    @Test
    void sameFlagTwiceIsHarmless() {
        Statement s = one("attr.set vm0 gpa=0 size=4K private private");
        assertEquals(Set.of("private"), s.flags());
    }

    @Test
    void vmNames() {
        for (String n : List.of("vm0", "td", "VM_A", "a-b", "x.y", "1", "private"))
            assertEquals(n, one("check " + n).vm());
    }

    @Test
    void accessorsComplainAboutWhatWasNotWritten() {
        Statement s = one("zap vm0 gpa=0 size=4K");
        assertThrows(NoSuchElementException.class, () -> s.number("vcpu"));
        assertThrows(NoSuchElementException.class, () -> s.positional("ID"));
        assertThrows(IllegalStateException.class, () -> s.level("gpa"));
        assertEquals(List.of("0"), s.value("gpa").list());
        assertEquals("t.scn:1", s.where());
        assertEquals("t.scn:1: zap vm0 gpa=0 size=4K", s.toString());
        assertEquals(1, s.column());
        assertEquals(9, s.value("gpa").column());
        assertEquals("0", s.value("gpa").text());
    }
}
