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
        assertEquals("PF", Walk.architecturalName(14));
        assertEquals("GP", Walk.architecturalName(13));
        assertEquals("MC", Walk.architecturalName(18));
        assertEquals("EXC20", Walk.architecturalName(20), "a vendor's vector is the vendor's to name");
        assertEquals("EXC255", Walk.architecturalName(Walk.vector(Walk.exception(255))));
        assertThrows(IllegalArgumentException.class, () -> Walk.exception(256));
        assertThrows(IllegalArgumentException.class, () -> Walk.exception(-1));
    }
}
