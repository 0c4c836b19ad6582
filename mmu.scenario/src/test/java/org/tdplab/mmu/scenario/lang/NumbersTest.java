package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class NumbersTest {
    @ParameterizedTest(name = "{0} = {1}")
    @CsvSource(delimiter = ';', value = {
            "0; 0",
            "4096; 4096",
            "007; 7", // a leading zero is not octal
            "18446744073709551615; -1", // 2^64-1
            "0x1000; 4096",
            "0X1000; 4096",
            "0xabcdef; 11259375",
            "0xABCDEF; 11259375",
            "0xAbCdEf; 11259375",
            "0x0; 0",
            "0x00000000000000000000001; 1", // leading zeros do not count towards 64 bits
            "0xffffffffffffffff; -1",
            "0xFFFFFFFFFFFFFFFF; -1",
            "1K; 1024",
            "1k; 1024",
            "2M; 2097152",
            "2m; 2097152",
            "1G; 1073741824",
            "1g; 1073741824",
            "1T; 1099511627776",
            "1t; 1099511627776",
            "0x2M; 2097152",
            "0x2m; 2097152",
            "0K; 0",
            "16777215T; -1099511627776", // (2^24-1) << 40 fits
            "0x3fffffffffffffK; -1024",
            "0x800000000000|0x1000; 140737488359424",
            "1G|4K; 1073745920",
            "1|2|4; 7",
            "0x10|0x10; 16",
            "0X8|1K|0x2M; 2098184",
    })
    void parses(String text, long expected) {
        assertEquals(expected, Numbers.parse(text));
        assertTrue(Numbers.isNumber(text));
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
            "''; empty number",
            "-1; negative number '-1' (numbers are unsigned)",
            "-0x10; negative number '-0x10' (numbers are unsigned)",
            "1|-2; negative number '1|-2' (numbers are unsigned)",
            "0x; bad number '0x'",
            "0xK; bad number '0xK'",
            "K; bad number 'K'",
            "0xZZ; bad number '0xZZ'",
            "12a; bad number '12a'",
            "+5; bad number '+5'",
            "1_000; bad number '1_000'",
            "0b101; bad number '0b101'",
            "1.5; bad number '1.5'",
            "2MB; bad number '2MB'",
            "2KK; bad number '2KK'",
            "1P; bad number '1P'",
            "x10; bad number 'x10'",
            "0x1|; bad number '0x1|' (empty part around '|')",
            "|1; bad number '|1' (empty part around '|')",
            "1||2; bad number '1||2' (empty part around '|')",
            "18446744073709551616; number '18446744073709551616' does not fit in 64 bits",
            "99999999999999999999999; number '99999999999999999999999' does not fit in 64 bits",
            "0x10000000000000000; number '0x10000000000000000' does not fit in 64 bits",
            "16777216T; number '16777216T' does not fit in 64 bits",
            "0x40000000000000K; number '0x40000000000000K' does not fit in 64 bits",
            "17179869184G; number '17179869184G' does not fit in 64 bits",
            "1|0x10000000000000000; number '1|0x10000000000000000' does not fit in 64 bits",
    })
    void rejects(String text, String message) {
        NumberFormatException e = assertThrows(NumberFormatException.class, () -> Numbers.parse(text));
        assertEquals(message, e.getMessage());
        assertFalse(Numbers.isNumber(text));
    }

    @ParameterizedTest
    @ValueSource(strings = { "\u0661", "\uFF11", "0x\uFF11" }) // Arabic-Indic and full-width digits
    void onlyAsciiDigits(String text) {
        assertThrows(NumberFormatException.class, () -> Numbers.parse(text));
    }

    @Test
    void largestSuffixedValues() {
        assertEquals(0xFFFFFFFFFFFFFC00L, Numbers.parse("18014398509481983K"));
        assertThrows(NumberFormatException.class, () -> Numbers.parse("18014398509481984K"));
        assertEquals(0xFFFFFFFFC0000000L, Numbers.parse("17179869183G"));
    }

    @Test
    void hex() {
        assertEquals("0x1000", Numbers.hex(4096));
        assertEquals("0xffffffffffffffff", Numbers.hex(-1));
    }
}
