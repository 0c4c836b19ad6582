package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.FileNotFoundException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Set;
import java.util.function.Predicate;

import org.junit.jupiter.api.Test;

class ForeignLineTest {
    private final Predicate<String> ours = Set.of("guest", "vms", "run", "vm.create")::contains;

    @Test
    void theFirstWordKeepsItsBracketsAndQuotes() {
        assertEquals("guest", ForeignLine.firstWord("  guest v vcpu=0 read gpa=0"));
        assertEquals("(guest list)", ForeignLine.firstWord("(guest list) v"));
        assertEquals("\"a b\"", ForeignLine.firstWord("\"a b\" length"));
        assertEquals("{ echo; x }", ForeignLine.firstWord("{ echo; x } | y"));
        assertEquals("vms", ForeignLine.firstWord("vms|grep a"));
        assertEquals("x", ForeignLine.firstWord("x; y"));
        assertEquals("sleep", ForeignLine.firstWord("sleep\t1"));
        assertEquals("", ForeignLine.firstWord("   "));
    }

    @Test
    void linesOfOurCommandsRunAsTyped() {
        assertFalse(ForeignLine.isForeign("guest v vcpu=0 read gpa=0", ours));
        assertFalse(ForeignLine.isForeign("mmu:vms", ours));
        assertFalse(ForeignLine.isForeign("vm.create a type=default", ours));
        assertFalse(ForeignLine.isForeign("   ", ours));
        assertFalse(ForeignLine.isForeign("# a comment", ours));
        assertFalse(ForeignLine.isForeign("sleep 10 &", ours)); // job control: a child job is no job of the shell's
        assertFalse(ForeignLine.isForeign("jobs", ours));
        assertFalse(ForeignLine.isForeign("fg 1", ours));
        assertTrue(ForeignLine.isForeign("echo '&'", ours));
    }

    @Test
    void otherLinesAndValuesAreForeign() {
        assertTrue(ForeignLine.isForeign("cat /nonexistent", ours));
        assertTrue(ForeignLine.isForeign("$foo v", ours));
        assertTrue(ForeignLine.isForeign("(guest) v", ours)); // a group, though it holds our name
        assertTrue(ForeignLine.isForeign("\"guest\" v", ours)); // QuotedName unquotes ours before this is asked
        assertTrue(ForeignLine.isForeign("x = 5", ours));
        assertTrue(ForeignLine.isForeign("{ vms }", ours));
    }

    @Test
    void gogosFailuresAreAnsweredInWords() {
        assertEquals("'$foo' is not set, so the line names no command to run",
                ForeignLine.explain("$foo", new RuntimeException("Command name evaluates to null: $foo")));
        assertEquals("'(guest)' is no command: the shell took it for a value and it has no method 'v' taking these "
                + "arguments (help lists the commands)", ForeignLine.explain("(guest)",
                        new IllegalArgumentException("Cannot coerce v() to any of []")));
        assertEquals("headers: the arguments fit none of its forms (Bundle[]) (help headers explains them)",
                ForeignLine.explain("headers", new IllegalArgumentException(
                        "Cannot coerce headers(Token) to any of [(Bundle[])]")));
        assertEquals("x: the arguments fit none of its forms (Bundle, String), (long) (help x explains them)",
                ForeignLine.explain("x", new IllegalArgumentException(
                        "Cannot coerce x(Token) to any of [(org.osgi.framework.Bundle, String), (long)]")));
        Exception wrapped = new InvocationTargetException(
                new RuntimeException("java.io.FileNotFoundException: /x (No such file or directory)"));
        assertEquals("cat: /x (No such file or directory)", ForeignLine.explain("cat", wrapped));
        assertEquals("cat: failed", ForeignLine.explain("cat", new FileNotFoundException()));
        assertEquals("throw: hello", ForeignLine.explain("throw", new Exception("hello")));
    }

    @Test
    void aFileProblemWhoseMessageIsThePathSaysWhatIsWrong() {
        assertEquals("grep: /x (No such file or directory)", ForeignLine.explain("grep",
                new InvocationTargetException(new NoSuchFileException("/x"))));
        assertEquals("head: /root/y (Permission denied)",
                ForeignLine.explain("head", new AccessDeniedException("/root/y")));
        assertEquals("wc: /a/b (Not a directory)", ForeignLine.explain("wc", new NotDirectoryException("/a/b")));
        assertEquals("cp: /x: is busy", ForeignLine.explain("cp", new FileSystemException("/x", null, "is busy")),
                "a message with its reason is the exception's own");
    }

    @Test
    void aFrameworkCommandsTextLosesJavaClassNamesAndAValueKeepsThem() {
        assertEquals("Unknown protocol: nope\n",
                ForeignLine.tidyResult("install", "java.net.MalformedURLException: Unknown protocol: nope\n"));
        assertEquals("java.io.IOException: x", ForeignLine.tidyResult("\"java.io.IOException:", "java.io.IOException: x"));
        assertEquals("java.io.IOException: x", ForeignLine.tidyResult("$v", "java.io.IOException: x"));
        assertEquals(42, ForeignLine.tidyResult("lb", 42));
    }
}
