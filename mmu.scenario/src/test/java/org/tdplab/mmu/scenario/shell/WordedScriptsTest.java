package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class WordedScriptsTest {
    @Test
    void aScriptOrALineRuns() {
        assertNull(WordedScripts.refusal("sh", new String[] {"boot.gosh"}));
        assertNull(WordedScripts.refusal("sh", new String[] {"-x", "boot.gosh", "--login"})); // an argument of the script
        assertNull(WordedScripts.refusal("gosh", new String[] {"-c", "echo", "hi"}));
        assertNull(WordedScripts.refusal("gosh", new String[] {"--nohistory", "--command", "lb"}));
    }

    @Test
    void aNestedInteractiveShellIsRefusedInWords() {
        String none = WordedScripts.refusal("sh", new String[0]);
        assertTrue(none.startsWith("this shell is interactive already: sh FILE"), none);
        assertTrue(none.endsWith("(given: sh)"), none);
        String options = WordedScripts.refusal("gosh", new String[] {"-x"});
        assertTrue(options.contains("(given: gosh -x)"), options);
        assertTrue(WordedScripts.refusal("sh", null).contains("interactive already"));
    }

    @Test
    void loginIsRefusedBeforeTheScriptOnly() {
        String login = WordedScripts.refusal("sh", new String[] {"--login", "boot.gosh"});
        assertTrue(login.startsWith("--login reads Gogo's profile"), login);
    }

    @Test
    void helpIsAnOptionBeforeTheScript() {
        assertTrue(WordedScripts.asksForHelp(new String[] {"--help"}));
        assertTrue(WordedScripts.asksForHelp(new String[] {"-x", "-?"}));
        assertFalse(WordedScripts.asksForHelp(new String[] {"boot.gosh", "--help"}));
        assertFalse(WordedScripts.asksForHelp(new String[] {"-c", "foo", "--help"}));
        assertFalse(WordedScripts.asksForHelp(new String[0]));
        String usage = WordedScripts.usage("gosh");
        assertTrue(usage.contains("usage: gosh [-x] [--nohistory] FILE [ARGS…]"), usage);
        assertFalse(usage.contains("interactive shell is started"), usage);
    }
}
