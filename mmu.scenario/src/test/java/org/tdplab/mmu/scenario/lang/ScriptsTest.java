package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/** Whole realistic scripts from {@code src/test/resources/lang}. */
class ScriptsTest {
    private static Path resource(String name) throws URISyntaxException {
        return Path.of(ScriptsTest.class.getResource("/lang/" + name).toURI());
    }

    private static Script parse(Parser p, String name) throws Exception {
        ParseResult r = p.parse(resource(name));
        if (!r.ok())
            fail(r.report());
        return r.script();
    }

    @Test
    void privateMemoryConversion() throws Exception {
        Script sc = parse(Fixtures.CORE, "conversion.scn");
        assertEquals(resource("conversion.scn").toString(), sc.file());
        List<Step> steps = sc.steps();
        assertEquals(List.of("vm.create", "slot.add", "attr.set", "guest", "guest", "guest", "attr.set", "guest",
                "guest", "guest", "gmem.punch", "guest", "check", "vm.destroy"),
                steps.stream().map(s -> s.statement().orElseThrow().verb()).toList());
        Step read = steps.get(4);
        assertEquals(9, read.line());
        assertEquals(List.of(ExpectKind.VALUE, ExpectKind.SPTE),
                read.expectations().stream().map(Statement::expectKind).toList());
        assertEquals(0xcafe, read.expectations().get(0).number("V"));
        Statement write = steps.get(3).statement().orElseThrow();
        assertEquals("guest vm0 vcpu=0 write gpa=0x1000 value=0xcafe", write.source());
        assertEquals(0xcafe, write.number("value"));
        Step shared = steps.get(5);
        assertTrue(shared.statement().orElseThrow().has("shared"));
        assertEquals("EINVAL", shared.expectations().get(0).word("NAME"));
        Step back = steps.get(9);
        assertEquals(3, back.expectations().size());
        assertEquals(List.of(">=", ">"), back.expectations().subList(1, 3).stream().map(e -> e.word("OP")).toList());
        Statement exec = steps.get(11).statement().orElseThrow();
        assertEquals("exec", exec.mode());
        assertEquals(8192, exec.number("size"));
        assertEquals(1, steps.get(13).expectations().size());
    }

    @Test
    void tdBuild() throws Exception {
        Script sc = parse(Fixtures.FULL, "td_build.scn");
        Statement create = sc.statements().get(0);
        assertEquals("tdx", create.word("type"));
        assertEquals(52, create.number("gpaw"));
        assertEquals("1.5", create.extraOptions().get("module"));
        Statement init = sc.statements().stream().filter(s -> s.verb().equals("tdx.init_mem_region")).findFirst()
                .orElseThrow();
        assertEquals(0xffc00000L, init.number("gpa"));
        assertTrue(init.has("measure"));
        Step fin = sc.steps().stream().filter(s -> s.statement().orElseThrow().verb().equals("tdx.finalize"))
                .findFirst().orElseThrow();
        assertEquals(List.of("TDH.MEM.PAGE.ADD", "TDH.MR.EXTEND"),
                fin.expectations().stream().map(e -> e.word("NAME")).toList());
        Step alias = sc.steps().stream().filter(s -> s.statement().orElseThrow().optionalNumber("gpa", 0) == 0x800000700000L)
                .findFirst().orElseThrow();
        Statement fault = alias.expectations().get(0);
        assertEquals(ExpectKind.EXIT_MEMORY_FAULT, fault.expectKind());
        assertSame(alias.statement().orElseThrow(), fault.subject().orElseThrow());
        Statement mmio = sc.statements().stream().filter(s -> s.isExpectation()
                && s.expectKind() == ExpectKind.EXIT_MMIO).findFirst().orElseThrow();
        assertEquals(0xd0000000L, mmio.number("gpa"));
        assertEquals(0xd0000000L, mmio.subject().orElseThrow().number("gpa"));
        Statement last = sc.statements().get(sc.statements().size() - 1);
        assertEquals("vm.destroy", last.subject().orElseThrow().verb());
        // without the backend's verbs the same file does not parse, and says why
        ParseResult r = Fixtures.CORE.parse(resource("td_build.scn"));
        assertFalse(r.ok());
        assertEquals(3, r.errors().size());
        assertTrue(r.errors().stream().allMatch(e -> e.reason().startsWith("unknown verb 'tdx.")), r.report());
    }

    @Test
    void dirtyLogging() throws Exception {
        Script sc = parse(Fixtures.CORE, "dirty_log.scn");
        Step get = sc.steps().get(4);
        assertEquals("dirty.get", get.statement().orElseThrow().verb());
        assertEquals(List.of(ExpectKind.DIRTY_COUNT, ExpectKind.DIRTY_BIT, ExpectKind.DIRTY_BIT),
                get.expectations().stream().map(Statement::expectKind).toList());
        assertEquals(List.of("", "set", "clear"), get.expectations().stream().map(Statement::mode).toList());
        Statement write = sc.steps().get(3).statement().orElseThrow();
        assertEquals(0x40003000L, write.number("gpa"));
        Statement run = sc.statements().get(sc.statements().size() - 1);
        assertEquals("dirty_log", run.word("WORKLOAD"));
        assertEquals("8", run.extraOptions().get("iterations"));
        assertEquals(2L << 30, run.number("gpa"));
    }

    @Test
    void everyErrorOfABrokenFile() throws Exception {
        Path f = resource("broken.scn");
        ParseResult r = Fixtures.CORE.parse(f);
        assertEquals(List.of(
                f + ":2:50: slot.add: backing: bad level '3M' (4K, 2M or 1G)",
                f + ":3:18: guest: unknown flag 'raed' (did you mean 'read'?)",
                f + ":5:1: attr.set: missing one of private|shared",
                f + ":7:9: zap: gpa: bad number '0x1_000'",
                f + ":8:28: expect stat: N: number '18446744073709551616' does not fit in 64 bits",
                f + ":9:1: unknown verb 'tdx.finalize': no namespace 'tdx' (namespaces: attr, dirty, gmem, notify, "
                        + "slot, vm)"),
                r.errors().stream().map(ParseException::getMessage).toList());
    }
}
