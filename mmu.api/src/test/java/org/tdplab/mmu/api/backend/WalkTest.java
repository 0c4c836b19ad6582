package org.tdplab.mmu.api.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Guest exceptions are architectural vectors the backend names; the API knows no vendor's. */
class WalkTest {
    @Test
    void anExceptionCarriesItsVectorAndTheDefaultNamesOnlyVendorNeutralOnes() {
        long w = Walk.exception(14);
        assertFalse(Walk.isTranslated(w));
        assertEquals(Walk.KIND_EXCEPTION, Walk.kind(w));
        assertEquals(14, Walk.vector(w));
        VmBackend plain = new VmBackend() {
        };
        assertEquals("PF", plain.exceptionName(14));
        assertEquals("GP", plain.exceptionName(13));
        assertEquals("MC", plain.exceptionName(18));
        assertEquals("EXC20", plain.exceptionName(20), "a vendor's vector is the vendor's to name");
        assertEquals("EXC255", plain.exceptionName(Walk.vector(Walk.exception(255))));
        assertThrows(IllegalArgumentException.class, () -> Walk.exception(256));
        assertThrows(IllegalArgumentException.class, () -> Walk.exception(-1));
    }

    @Test
    void aBackendNamesItsOwnVector() {
        VmBackend own = new VmBackend() {
            @Override
            public String exceptionName(int vector) {
                return vector == 0x42 ? "HYP" : VmBackend.super.exceptionName(vector);
            }
        };
        assertEquals("HYP", own.exceptionName(Walk.vector(Walk.exception(0x42))));
        assertEquals("PF", own.exceptionName(14));
    }
}
