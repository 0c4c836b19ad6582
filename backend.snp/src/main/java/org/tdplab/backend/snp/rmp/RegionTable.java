package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The RMP's 2M regions by index, volatile like an {@code AtomicReferenceArray}, but through a VarHandle of the
 * exact array type: an {@code AtomicReferenceArray} stores through an {@code Object[]} handle, whose store check
 * took the reflective path on every RMP write (RMPUPDATE and PVALIDATE of each private fault).
 */
final class RegionTable {
    private static final VarHandle AT = MethodHandles.arrayElementVarHandle(Rmp.Region[].class);

    private final Rmp.Region[] regions;

    RegionTable(int length) {
        regions = new Rmp.Region[length];
    }

    int length() {
        return regions.length;
    }

    Rmp.Region get(int i) {
        return (Rmp.Region) AT.getVolatile(regions, i);
    }

    void set(int i, Rmp.Region r) {
        AT.setVolatile(regions, i, r);
    }
}
