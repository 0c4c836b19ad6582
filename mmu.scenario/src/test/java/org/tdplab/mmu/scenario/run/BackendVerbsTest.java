package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.scenario.lang.Parser;

/** Backend verbs become statement forms; one the language cannot take is left out with a warning. */
class BackendVerbsTest {
    @Test
    void verbSpecsBecomeForms() {
        VerbSpec init = new VerbSpec("tdx.init_mem_region", List.of(VerbOption.required("gpa", VerbOption.Type.GPA),
                VerbOption.required("size", VerbOption.Type.SIZE)), List.of("measure"), "");
        VerbSpec poke = new VerbSpec("lab.poke", List.of(VerbOption.required("count", VerbOption.Type.NUMBER),
                VerbOption.optional("gpa", VerbOption.Type.GPA),
                VerbOption.optional("level", VerbOption.Type.LEVEL).of("4K", "2M"),
                VerbOption.optional("fast", VerbOption.Type.BOOLEAN),
                VerbOption.optional("how", VerbOption.Type.CHOICE).of("a", "b")), List.of(), "");
        assertEquals("tdx.init_mem_region VM gpa=A size=S [measure]", BackendVerbs.schema(init).usage());
        assertEquals("lab.poke VM count=N [gpa=A] [level=4K|2M] [fast=on|off] [how=a|b]",
                BackendVerbs.schema(poke).usage());
    }

    @Test
    void textIsParsedOnceIntoTypedValues() {
        VerbSpec poke = new VerbSpec("lab.poke", List.of(VerbOption.required("count", VerbOption.Type.NUMBER),
                VerbOption.optional("gpa", VerbOption.Type.GPA),
                VerbOption.optional("level", VerbOption.Type.LEVEL).of("4K", "2M"),
                VerbOption.optional("fast", VerbOption.Type.BOOLEAN),
                VerbOption.optional("how", VerbOption.Type.CHOICE).of("a", "b")), List.of("x"), "");
        VerbArgs a = BackendVerbs.args(poke, Map.of("count", "2M|0x10", "gpa", "0x1000", "level", "2M", "fast", "on",
                "how", "b"), Set.of("x"));
        assertEquals(0x200010L, a.number("count"));
        assertEquals(0x1000L, a.number("gpa"));
        assertEquals(2, a.level("level", 1));
        assertTrue(a.bool("fast", false));
        assertEquals("b", a.word("how", "a"));
        assertTrue(a.flag("x"));
        MmuException e = assertThrows(MmuException.class,
                () -> BackendVerbs.args(poke, Map.of("count", "1", "level", "1G"), Set.of()));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.reason().contains("level=1G"), e.reason());
        e = assertThrows(MmuException.class, () -> BackendVerbs.args(poke, Map.of("count", "lots"), Set.of()));
        assertTrue(e.reason().contains("count=lots"), e.reason());
        e = assertThrows(MmuException.class, () -> BackendVerbs.args(poke, Map.of("gpa", "0"), Set.of()));
        assertTrue(e.reason().contains("missing count="), e.reason());
        e = assertThrows(MmuException.class, () -> BackendVerbs.args(poke, Map.of("count", "1"), Set.of("y")));
        assertTrue(e.reason().contains("unknown flag 'y'"), e.reason());
    }

    /** {@code expect exception NAME} takes the architectural names always, a backend's own only once it declares it. */
    @Test
    void expectExceptionTakesTheNamesBackendsDeclare() {
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        Parser plain = BackendVerbs.parser(List.of(), Set.of(), quiet);
        String access = "guest vm0 vcpu=0 read gpa=0\n";
        assertTrue(plain.parse("t.scn", access + "expect exception GP\n").ok());
        assertFalse(plain.parse("t.scn", access + "expect exception HYP_ABORT\n").ok());
        Parser declared = BackendVerbs.parser(List.of(), Set.of("HYP_ABORT"), quiet);
        assertTrue(declared.parse("t.scn", access + "expect exception HYP_ABORT\n").ok());
        assertFalse(declared.parse("t.scn", access + "expect exception UD\n").ok());
    }

    @Test
    void aVerbTheLanguageCannotTakeIsLeftOut() {
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        Parser p = BackendVerbs.parser(List.of(new VerbSpec("slot.add", List.of(), List.of(), ""),
                new VerbSpec("nodot", List.of(), List.of(), ""), new VerbSpec("lab.ok", List.of(), List.of(), ""),
                new VerbSpec("lab.ok", List.of(new VerbOption("n", VerbOption.Type.NUMBER, false, List.of())), List.of(), "")),
                Set.of(),
                new PrintStream(warnings, true, StandardCharsets.UTF_8));
        assertTrue(p.verbs().contains("lab.ok"));
        assertTrue(p.parse("t.scn", "slot.add vm 1 gpa=0 size=4K\nlab.ok vm\n").ok());
        String w = warnings.toString(StandardCharsets.UTF_8);
        assertTrue(w.contains("tdplab: ignoring backend verb 'slot.add': a catalog verb redefines a core verb"), w);
        assertTrue(w.contains("tdplab: ignoring backend verb 'nodot'"), w);
        assertTrue(w.contains("tdplab: ignoring backend verb 'lab.ok': another backend declares it already (name a "
                + "backend's verbs TYPE.VERB, after its own VM type)"), w);
    }
}
