package org.tdplab.mmu.api;

/** What a guest access does to a page. */
public enum Access {
    READ, WRITE, EXEC
}
