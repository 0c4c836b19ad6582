package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;

/** The schema builder: usage lines and the mistakes it refuses. */
class SchemaTest {
    @Test
    void usageInDeclarationOrder() {
        Schema s = Schema.verb("lab.op").positional("VM").required("vcpu", ValueType.NUMBER, "N")
                .mode("read", "write").required("gpa", ValueType.NUMBER, "A").optional("size", ValueType.NUMBER, "S")
                .optional("len", ValueType.NUMBER).together("size", "len").optionalChoice("private", "shared")
                .flag("measure").optional("level", ValueType.LEVEL).optional("root", ValueType.oneOf("a", "b"))
                .optional("list", ValueType.LIST).freeOptions().build();
        assertEquals("lab.op VM vcpu=N read|write gpa=A [size=S len=N] [private|shared] [measure] [level=4K|2M|1G] "
                + "[root=a|b] [list=a,b,…] [k=v…]", s.usage());
        assertEquals("lab", s.namespace());
        assertEquals("lab.op", s.name());
        assertEquals(List.of("read", "write"), s.modes());
        assertEquals(Set.of("read", "write", "private", "shared", "measure"), s.flags());
        assertTrue(s.groupOf("shared").orElseThrow().exclusive());
        assertFalse(s.groupOf("measure").orElseThrow().exclusive());
        assertEquals(Optional.empty(), s.groupOf("nope"));
        assertTrue(s.allowsFreeOptions());
        assertEquals(List.of(List.of("size", "len")), s.together());
        assertEquals("N", s.options().get("len").placeholder());
        assertTrue(s.options().get("vcpu").required());
        assertEquals("", Schema.verb("check").positional("VM").build().namespace());
    }

    @Test
    void refusesMalformedSchemas() {
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("Bad"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("a.b.c"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").positional("VM").word("late"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").flag("f").positional("VM"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").positional("VM").positional("VM"));
        assertThrows(IllegalArgumentException.class,
                () -> Schema.verb("x").optional("a", ValueType.NUMBER).optional("a", ValueType.WORD));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").optional("9a", ValueType.NUMBER));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").flag("f").choice("f", "g"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").mode("a").mode("b"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").choice());
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").flag("a=b"));
        assertThrows(IllegalArgumentException.class,
                () -> Schema.verb("x").required("a", ValueType.NUMBER).optional("b", ValueType.NUMBER)
                        .together("a", "b"));
        assertThrows(IllegalArgumentException.class, () -> Schema.verb("x").freeOptions().freeOptions());
        assertThrows(IllegalArgumentException.class, () -> ValueType.oneOf("a").alias("b", "c"));
        assertThrows(IllegalArgumentException.class, () -> ValueType.levels());
    }

    @Test
    void valueTypes() {
        assertEquals(ValueType.Kind.CHOICE, ValueType.oneOf("x").kind());
        assertEquals(List.of(Level.L4K, Level.L2M), ValueType.levels(Level.L4K, Level.L2M).allowedLevels());
        assertEquals("4K|2M", ValueType.levels(Level.L4K, Level.L2M).placeholder());
        assertEquals("A", ValueType.NUMBER.placeholder("A").placeholder());
        assertEquals(List.of(), ValueType.LIST.choices());
        Value v = ValueType.listOf().parse("a,b", 1, 1);
        assertEquals(List.of("a", "b"), v.list());
        Value t = ValueType.TEXT.parse("2M", 1, 1);
        assertEquals(1L << 21, t.number());
        assertEquals(Level.L2M, t.level());
        assertEquals(List.of("x", "y"), ValueType.TEXT.parse("x,y", 1, 1).list());
        assertThrows(IllegalStateException.class, () -> ValueType.TEXT.parse("3M", 1, 1).level());
        assertThrows(IllegalStateException.class, () -> ValueType.WORD.parse("w", 1, 1).number());
    }
}
