package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.scenario.lang.Parser;

/** Backend verbs become statement forms; one the language cannot take is left out with a warning. */
class BackendVerbsTest {
    @Test
    void verbSpecsBecomeForms() {
        VerbSpec init = new VerbSpec("tdx.init_mem_region", List.of("gpa", "size"), List.of(), List.of("measure"), "");
        VerbSpec poke = new VerbSpec("lab.poke", List.of("count"), List.of("gpa"), List.of(), "");
        assertEquals("tdx.init_mem_region VM gpa=A size=S [measure]", BackendVerbs.schema(init).usage());
        assertEquals("lab.poke VM count=N [gpa=A]", BackendVerbs.schema(poke).usage());
    }

    @Test
    void aVerbTheLanguageCannotTakeIsLeftOut() {
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        Parser p = BackendVerbs.parser(List.of(new VerbSpec("slot.add", List.of(), List.of(), List.of(), ""),
                new VerbSpec("nodot", List.of(), List.of(), List.of(), ""),
                new VerbSpec("lab.ok", List.of(), List.of(), List.of(), "")),
                new PrintStream(warnings, true, StandardCharsets.UTF_8));
        assertTrue(p.verbs().contains("lab.ok"));
        assertTrue(p.parse("t.scn", "slot.add vm 1 gpa=0 size=4K\nlab.ok vm\n").ok());
        String w = warnings.toString(StandardCharsets.UTF_8);
        assertTrue(w.contains("tdplab: ignoring backend verb 'slot.add': a catalog verb redefines a core verb"), w);
        assertTrue(w.contains("tdplab: ignoring backend verb 'nodot'"), w);
    }
}
