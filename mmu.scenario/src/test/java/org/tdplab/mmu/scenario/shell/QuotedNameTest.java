package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Set;
import java.util.function.Predicate;

import org.junit.jupiter.api.Test;

class QuotedNameTest {
    private final Predicate<String> ours = Set.of("guest", "zap", "vms", "tdx.finalize")::contains;

    @Test
    void aQuotedNameOfOursIsUnquoted() {
        assertEquals("guest v vcpu=0 read gpa=0", QuotedName.unquote("\"guest\" v vcpu=0 read gpa=0", ours));
        assertEquals("  zap v gpa=0 size=4K", QuotedName.unquote("  'zap' v gpa=0 size=4K", ours));
        assertEquals("vms", QuotedName.unquote("\"vms\"", ours));
        assertEquals("mmu:tdx.finalize td", QuotedName.unquote("'mmu:tdx.finalize' td", ours));
    }

    @Test
    void otherLinesKeepGogosMeaning() {
        assertNull(QuotedName.unquote("guest v vcpu=0 read gpa=0", ours)); // not quoted
        assertNull(QuotedName.unquote("\"hello\" length", ours)); // not ours: a method call on a string
        assertNull(QuotedName.unquote("\"guest\"x v", ours)); // the quote runs on into the word
        assertNull(QuotedName.unquote("\"guest v", ours)); // unclosed: Gogo asks for the rest
        assertNull(QuotedName.unquote("\"gu est\" v", ours));
        assertNull(QuotedName.unquote("\"$x\" v", ours));
        assertNull(QuotedName.unquote("\"\" v", ours));
        assertNull(QuotedName.unquote("   ", ours));
        assertNull(QuotedName.unquote("", ours));
    }
}
