package org.tdplab.mmu.api;

/**
 * How the guest encodes the privateness of an access: a shared GPA bit, or an encrypted-access (C-)bit.
 * {@link #CURRENT} lets the guest use the page's current attribute, as a guest that tracks its own conversions does.
 */
public enum Encoding {
    CURRENT, PRIVATE, SHARED
}
