package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;

/** Shared helpers: parse text as {@code t.scn} and look at the outcome. */
final class Fixtures {
    static final String FILE = "t.scn";
    static final Parser CORE = new Parser();

    /** The example backend verbs of SCENARIO.md, as a runner would supply them. */
    static final VerbCatalog BACKENDS = VerbCatalog.of(
            Schema.verb("tdx.init_mem_region").positional("VM").required("gpa", ValueType.NUMBER, "A")
                    .required("size", ValueType.NUMBER, "S").flag("measure").build(),
            Schema.verb("tdx.finalize").positional("VM").build(),
            Schema.verb("snp.launch_update").positional("VM").required("gpa", ValueType.NUMBER, "A")
                    .required("size", ValueType.NUMBER, "S").build(),
            Schema.verb("snp.launch_finish").positional("VM").build());
    static final Parser FULL = new Parser(BACKENDS);

    private Fixtures() {
    }

    static Script script(Parser p, String text) {
        ParseResult r = p.parse(FILE, text);
        if (!r.ok())
            fail("unexpected parse errors:\n" + r.report());
        return r.script();
    }

    static Script script(String text) {
        return script(FULL, text);
    }

    static Statement one(String line) {
        List<Statement> ss = script(line).statements();
        assertEquals(1, ss.size(), "statements of: " + line);
        return ss.get(0);
    }

    static List<String> errors(Parser p, String text) {
        ParseResult r = p.parse(FILE, text);
        assertTrue(!r.ok(), "expected errors for:\n" + text);
        return r.errors().stream().map(ParseException::getMessage).toList();
    }

    static List<String> errors(String text) {
        return errors(FULL, text);
    }

    /** The single error of a text. */
    static String error(String text) {
        List<String> es = errors(text);
        assertEquals(1, es.size(), "errors: " + es);
        return es.get(0);
    }
}
