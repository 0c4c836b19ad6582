package org.tdplab.mmu.api.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbOption.Type;

/** The one parser of option values: what each type takes written as text, and what it says when it does not. */
class OptionValuesTest {
    @Test
    void numbersAreDecimalOrHexWithBinarySuffixesAndOrParts() {
        assertEquals(4096L, Type.NUMBER.parse("4096", List.of()));
        assertEquals(0x1fL, Type.SIZE.parse("0X1F", List.of()));
        assertEquals(2L << 20, Type.GPA.parse("2M", List.of()));
        assertEquals(2L << 20, Type.NUMBER.parse("0x2m", List.of()));
        assertEquals(0x800000001000L, Type.GPA.parse("0x800000000000|4K", List.of()));
        assertEquals(-1L, Type.NUMBER.parse("0xffffffffffffffff", List.of()));
        for (String bad : new String[] { "", "-1", "0x", "12q", "1|", "0x1FFFFFFFFFFFFFFFFF", "16777216T" })
            assertThrows(NumberFormatException.class, () -> Type.NUMBER.parse(bad, List.of()), bad);
        assertEquals("number '16777216T' does not fit in 64 bits", assertThrows(NumberFormatException.class,
                () -> Type.NUMBER.parse("16777216T", List.of())).getMessage());
    }

    @Test
    void levelsAreWrittenAsPageSizesAmongTheChoices() {
        assertEquals(1, Type.LEVEL.parse("4K", List.of()));
        assertEquals(3, Type.LEVEL.parse("1G", List.of()));
        assertEquals(2, Type.LEVEL.parse("2M", List.of("4K", "2M")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Type.LEVEL.parse("1G", List.of("4K", "2M")));
        assertEquals("a page size: 4K or 2M", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Type.LEVEL.parse("2", List.of()));
    }

    @Test
    void wordsSwitchesAndDecimals() {
        assertEquals(Boolean.TRUE, Type.BOOLEAN.parse("on", List.of()));
        assertEquals(Boolean.FALSE, Type.BOOLEAN.parse("off", List.of()));
        assertEquals("on or off", assertThrows(IllegalArgumentException.class,
                () -> Type.BOOLEAN.parse("yes", List.of())).getMessage());
        assertEquals("bug", Type.CHOICE.parse("bug", List.of("zap", "bug")));
        assertEquals("zap, bug or none", assertThrows(IllegalArgumentException.class,
                () -> Type.CHOICE.parse("maybe", List.of("zap", "bug", "none"))).getMessage());
        assertEquals("anything", Type.TEXT.parse("anything", List.of()));
        assertThrows(IllegalArgumentException.class, () -> Type.TEXT.parse("", List.of()));
        assertEquals(0.25, Type.DECIMAL.parse("0.25", List.of()));
        assertEquals(1.0, Type.DECIMAL.parse("1", List.of()));
        assertEquals(-0.5, Type.DECIMAL.parse("-.5", List.of()));
        for (String bad : new String[] { "1/4", "NaN", "Infinity", "0x10", "1.", "" })
            assertThrows(IllegalArgumentException.class, () -> Type.DECIMAL.parse(bad, List.of()), bad);
    }

    @Test
    void aVmOptionShowsItsValuesAsUsersWriteThem() {
        assertEquals("on|off", VmOption.of("ad", Type.BOOLEAN, "").values());
        assertEquals("zap|bug", VmOption.choice("memtype_zap", "", "zap", "bug").values());
        assertEquals("N", VmOption.of("seed", Type.NUMBER, "").values());
        assertEquals("X.Y", VmOption.of("busy_rate", Type.DECIMAL, "").values());
        assertThrows(IllegalArgumentException.class, () -> new VmOption("w", Type.CHOICE, List.of(), ""));
    }
}
