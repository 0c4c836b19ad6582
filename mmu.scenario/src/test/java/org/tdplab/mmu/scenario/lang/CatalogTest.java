package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.tdplab.mmu.scenario.lang.Fixtures.FULL;
import static org.tdplab.mmu.scenario.lang.Fixtures.error;
import static org.tdplab.mmu.scenario.lang.Fixtures.one;
import static org.tdplab.mmu.scenario.lang.Fixtures.script;

import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/** Verbs known only at run time, given by a {@link VerbCatalog}. */
class CatalogTest {
    @Test
    void backendVerbsParse() {
        Statement init = one("tdx.init_mem_region td gpa=0 size=2M measure");
        assertEquals("tdx.init_mem_region", init.verb());
        assertEquals("tdx", init.schema().namespace());
        assertEquals("td", init.vm());
        assertTrue(init.has("measure"));
        assertFalse(one("tdx.init_mem_region td gpa=0 size=2M").has("measure"));
        assertEquals("td", one("tdx.finalize td").vm());
        assertEquals(0x1000, one("snp.launch_update sev gpa=0x1000 size=4K").number("gpa"));
        assertEquals("sev", one("snp.launch_finish sev").vm());
    }

    @Test
    void backendVerbsAreCheckedLikeCoreVerbs() {
        assertEquals("t.scn:1:1: tdx.init_mem_region: missing required option size=S",
                error("tdx.init_mem_region td gpa=0"));
        assertEquals("t.scn:1:38: tdx.init_mem_region: unknown flag 'measured' (did you mean 'measure'?)",
                error("tdx.init_mem_region td gpa=0 size=4K measured"));
        assertEquals("t.scn:1:17: tdx.finalize: unexpected argument 'now' (usage: tdx.finalize VM)",
                error("tdx.finalize td now"));
        assertEquals("t.scn:1:1: unknown verb 'snp.launch_start' (snp verbs: snp.launch_finish, snp.launch_update)",
                error("snp.launch_start sev"));
    }

    @Test
    void usageOfTheContractExamples() {
        assertEquals(List.of("tdx.init_mem_region VM gpa=A size=S [measure]", "tdx.finalize VM",
                "snp.launch_update VM gpa=A size=S", "snp.launch_finish VM"),
                Fixtures.BACKENDS.verbs().stream().map(Schema::usage).toList());
        assertTrue(FULL.verbs().containsAll(Set.of("tdx.finalize", "snp.launch_finish", "slot.add", "expect")));
        assertEquals(2, FULL.forms("tdx.init_mem_region").size() + FULL.forms("tdx.finalize").size());
        assertEquals(List.of(), FULL.forms("nope"));
    }

    @Test
    void catalogsCombineAndAddWorkloads() {
        VerbCatalog extra = VerbCatalog.of(List.of(Schema.verb("lab.poke").positional("VM")
                .required("addr", ValueType.NUMBER, "A").mode("byte", "word").build()), Set.of("stream"));
        Parser p = new Parser(Fixtures.BACKENDS.and(extra));
        Script sc = script(p, "lab.poke vm0 word addr=0x10\ntdx.finalize vm0\nrun vm0 stream gpa=0 size=1G vcpus=2");
        assertEquals("word", sc.statements().get(0).mode());
        assertEquals("stream", sc.statements().get(2).word("WORKLOAD"));
        assertEquals(List.of("t.scn:1:1: lab.poke: missing one of byte|word"),
                Fixtures.errors(p, "lab.poke vm0 addr=0"));
        assertEquals(List.of("t.scn:1:9: run: WORKLOAD: bad value 'stream' (demand_paging, dirty_log, conversions, "
                + "memslot_stress or access_tracking)"),
                Fixtures.errors(Fixtures.CORE, "run vm0 stream gpa=0 size=1G vcpus=2"));
    }

    @Test
    void aCatalogMayNotRedefineOrShadowCoreVerbs() {
        assertThrows(IllegalArgumentException.class,
                () -> new Parser(VerbCatalog.of(Schema.verb("slot.add").positional("VM").build())));
        assertThrows(IllegalArgumentException.class,
                () -> new Parser(VerbCatalog.of(Schema.verb("poke").positional("VM").build())));
        // core namespaces may gain verbs
        Parser p = new Parser(VerbCatalog.of(Schema.verb("slot.split").positional("VM").build()));
        assertEquals("unknown verb 'slot.ad' (slot verbs: slot.add, slot.delete, slot.log, slot.move, slot.split)",
                p.parse("f", "slot.ad").errors().get(0).reason());
    }

    @Test
    void formsOfOneVerbMustBeTellableApart() {
        Schema a = Schema.verb("x.y").positional("VM").build();
        Schema b = Schema.verb("x.y").positional("VM").flag("f").build();
        assertThrows(IllegalArgumentException.class, () -> new Parser(VerbCatalog.of(a, b)));
        Schema m1 = Schema.verb("x.y").positional("VM").mode("on").build();
        Schema m2 = Schema.verb("x.y").positional("VM").mode("on", "off").build();
        assertThrows(IllegalArgumentException.class, () -> new Parser(VerbCatalog.of(m1, m2)));
        Schema p1 = Schema.verb("x.y").positional("VM").mode("on").build();
        Schema p2 = Schema.verb("x.y").positional("VM").positional("ID", ValueType.NUMBER).mode("off").build();
        assertThrows(IllegalArgumentException.class, () -> new Parser(VerbCatalog.of(p1, p2)));
        Schema w1 = Schema.verb("x.y").word("k").build();
        Schema w2 = Schema.verb("x.y").word("k").word("l").build();
        assertThrows(IllegalArgumentException.class, () -> new Parser(VerbCatalog.of(w1, w2)));
        Schema w3 = Schema.verb("x.y").build();
        assertThrows(IllegalArgumentException.class, () -> new Parser(VerbCatalog.of(w1, w3)));
        // fine: a default form and a moded one; forms with different kind words
        new Parser(VerbCatalog.of(a, m1));
        new Parser(VerbCatalog.of(w1, Schema.verb("x.y").word("m").build()));
    }

    @Test
    void kindWordsOfBackendVerbs() {
        Parser p = new Parser(VerbCatalog.of(Schema.verb("lab.set").word("bit").positional("VM").build(),
                Schema.verb("lab.set").word("mode").positional("VM").choice("fast", "slow").build()));
        Statement s = script(p, "lab.set mode vm0 fast").statements().get(0);
        assertEquals(List.of("mode"), s.words());
        assertEquals("lab.set mode", s.schema().name());
        assertEquals(List.of("t.scn:1:9: lab.set: unknown kind 'bits' (bit or mode)"),
                Fixtures.errors(p, "lab.set bits vm0"));
    }
}
