package org.tdplab.mmu.api.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

class FirmwareLatencyTest {
    @Test
    void parsesArrayElementsCommaListsUnitsAndTheWildcard() {
        FirmwareLatency t = FirmwareLatency.parse("OP.A=4000", " OP.B = 2us , OP.C=7ns", "*=1000");
        assertEquals(4000, t.nanos("OP.A"));
        assertEquals(2000, t.nanos("OP.B"));
        assertEquals(7, t.nanos("OP.C"));
        assertEquals(1000, t.nanos("OP.UNNAMED"));
        assertArrayEquals(new String[] { "OP.A=4000", "OP.B=2000", "OP.C=7", "*=1000" }, t.entries());
    }

    @Test
    void aConfigurationIsLaidOverTheDefaults() {
        FirmwareLatency defaults = FirmwareLatency.parse("OP.A=4000", "*=1000");
        FirmwareLatency t = defaults.with("OP.A=9000, OP.B=1");
        assertEquals(9000, t.nanos("OP.A"));
        assertEquals(1, t.nanos("OP.B"));
        assertEquals(1000, t.nanos("OTHER"));
        assertEquals(0, defaults.with("*=0").nanos("OTHER"));
        assertEquals(defaults, defaults.with((String[]) null));
        assertEquals(defaults, defaults.with("", " , "));
        assertEquals(0, FirmwareLatency.NONE.nanos("OP.A"));
    }

    @Test
    void malformedEntriesAreRefusedWithEinval() {
        for (String bad : new String[] { "OP.A", "=5", "OP.A=", "OP.A=-1", "OP.A=1ms", "OP.A=x",
                "OP.A=99999999999999999us" }) {
            MmuException e = assertThrows(MmuException.class, () -> FirmwareLatency.parse(bad), bad);
            assertEquals(Errno.EINVAL, e.errno());
            assertTrue(e.getMessage().contains("latency entry"), e.getMessage());
        }
    }
}
