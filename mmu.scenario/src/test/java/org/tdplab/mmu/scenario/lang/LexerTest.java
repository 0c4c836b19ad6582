package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tdplab.mmu.scenario.lang.Fixtures.FILE;
import static org.tdplab.mmu.scenario.lang.Fixtures.error;
import static org.tdplab.mmu.scenario.lang.Fixtures.errors;
import static org.tdplab.mmu.scenario.lang.Fixtures.script;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class LexerTest {
    private static List<Lexer.Line> lex(String text) {
        List<ParseException> errors = new ArrayList<>();
        List<Lexer.Line> lines = Lexer.lex(FILE, text, errors);
        assertEquals(List.of(), errors);
        return lines;
    }

    @Test
    void tokensWithLinesAndColumns() {
        List<Lexer.Line> lines = lex("vm.create  vm0\ttype=default\n\n   check vm0   \n");
        assertEquals(2, lines.size());
        assertEquals(List.of(new Token("vm.create", 1, 1), new Token("vm0", 1, 12), new Token("type=default", 1, 16)),
                lines.get(0).tokens());
        assertEquals(List.of(new Token("check", 3, 4), new Token("vm0", 3, 10)), lines.get(1).tokens());
        assertEquals(3, lines.get(1).number());
        assertEquals("check vm0", lines.get(1).source());
        assertEquals(0, lines.get(1).commentColumn());
    }

    @Test
    void commentsAnywhere() {
        List<Lexer.Line> lines = lex("# a whole-line comment\n  # indented comment\ncheck vm0 # trailing\ncheck vm1#glued\n#\n");
        assertEquals(2, lines.size());
        assertEquals("check vm0", lines.get(0).source());
        assertEquals(11, lines.get(0).commentColumn());
        assertEquals(List.of(new Token("check", 4, 1), new Token("vm1", 4, 7)), lines.get(1).tokens());
    }

    @Test
    void blankAndCommentOnlyFilesHaveNoStatements() {
        assertEquals(List.of(), lex(""));
        assertEquals(List.of(), lex("\n\n \t \n# nothing\n"));
        assertEquals(0, script("\n\n# only comments\n\t\n").statements().size());
        assertEquals(0, script("").steps().size());
    }

    @Test
    void crlfAndMissingFinalNewline() {
        List<Lexer.Line> lines = lex("check vm0\r\ncheck vm1\r\ncheck vm2");
        assertEquals(3, lines.size());
        assertEquals("vm1", lines.get(1).tokens().get(1).text());
        assertEquals("vm2", lines.get(2).tokens().get(1).text());
        assertEquals(3, lines.get(2).number());
    }

    @Test
    void byteOrderMarkIgnored() {
        List<Lexer.Line> lines = lex("\uFEFFcheck vm0\n");
        assertEquals(new Token("check", 1, 1), lines.get(0).tokens().get(0));
    }

    @Test
    void tabsCountOneColumn() {
        assertEquals(new Token("vm0", 1, 8), lex("check\t\tvm0").get(0).tokens().get(1));
        assertEquals("t.scn:1:13: check: unexpected argument 'x' (usage: check VM)", error("\t\tcheck vm0 x"));
    }

    @Test
    void strayWhiteSpaceIsAnErrorAtItsColumn() {
        assertEquals("t.scn:1:6: unexpected character U+00A0 (tokens are separated by spaces or tabs)",
                error("check\u00A0vm0"));
        assertEquals(List.of("t.scn:2:10: unexpected character U+000D (tokens are separated by spaces or tabs)",
                "t.scn:2:11: check: unexpected argument 'vm1' (usage: check VM)"), errors("check vm0\ncheck vm0\rvm1"));
        assertEquals("t.scn:1:6: unexpected character U+000C (tokens are separated by spaces or tabs)",
                error("check\fvm0"));
    }

    @Test
    void strayCharacterStillLetsTheRestBeChecked() {
        List<String> es = errors("check\u2003vm0 extra");
        assertEquals(List.of("t.scn:1:6: unexpected character U+2003 (tokens are separated by spaces or tabs)",
                "t.scn:1:11: check: unexpected argument 'extra' (usage: check VM)"), es);
    }

    @Test
    void hashInsideATokenStartsAComment() {
        Statement s = Fixtures.one("slot.add vm0 1 size=8K gpa=0x1000#size=4K\tsize=8K");
        assertEquals(0x1000, s.number("gpa"));
        assertEquals(8192, s.number("size"));
        assertEquals("slot.add vm0 1 size=8K gpa=0x1000", s.source());
        // what follows '#' is gone, so size is missing
        assertEquals(List.of("t.scn:1:1: slot.add: missing required option size=S"),
                errors("slot.add vm0 1 gpa=0x1000 #size=4K"));
    }
}
