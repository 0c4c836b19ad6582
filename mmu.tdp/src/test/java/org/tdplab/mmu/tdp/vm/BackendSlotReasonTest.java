package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

class BackendSlotReasonTest {
    @Test
    void anErrnoRefusalKeepsItsMessage() {
        assertEquals("EINVAL: snapshot.version 9 is not 1",
                BackendSlot.reason(new MmuException(Errno.EINVAL, "snapshot.version %d is not 1", 9)));
    }

    @Test
    void anyOtherExceptionIsNamedByWhereItWasThrownNotByItsJavaText() {
        String r = BackendSlot.reason(new ClassCastException("class java.lang.String cannot be cast to class java.lang.Long"));
        assertTrue(r.startsWith("an internal error of the backend (at BackendSlotReasonTest."), r);
        assertFalse(r.contains("java.lang") || r.contains("cannot be cast") || r.contains("ClassCast"), r);
    }
}
