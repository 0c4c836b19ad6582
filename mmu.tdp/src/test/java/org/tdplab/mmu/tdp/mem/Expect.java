package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.function.Executable;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** Assertions on refused operations. */
public final class Expect {
    private Expect() {
    }

    /** {@code op} fails with {@code errno} and a message that contains {@code names} (the offending value). */
    public static MmuException errno(Errno errno, String names, Executable op) {
        MmuException e = assertThrows(MmuException.class, op);
        assertEquals(errno, e.errno(), () -> "errno of: " + e.getMessage());
        assertTrue(e.reason().contains(names), () -> "message '" + e.reason() + "' should name '" + names + "'");
        return e;
    }
}
