package org.tdplab.backend.tdx.kvm;

/**
 * Per vCPU, where the guest is inside an accept that made the TD exit: the unit the core asked for (GFN and level),
 * the page and size of the TDCALL to re-execute, and the TD's removal count then. Each vCPU's fields share a cache
 * line of their own: every accept exit writes them, and in arrays of one field per vCPU two vCPU threads faulting at
 * once wrote the same lines.
 */
final class AcceptCursors {
    /**
     * A vCPU's fields (40 bytes) and padding: 192 bytes, so that at least 128 bytes lie between one vCPU's last field
     * and the next one's first, whatever the array's (8-byte) alignment: the adjacent-line prefetcher moves 64-byte
     * lines in pairs.
     */
    private static final int UNIT = 0, UNIT_LEVEL = 1, GFN = 2, LEVEL = 3, REMOVALS = 4, STRIDE = 24;
    private final long[] fields;

    AcceptCursors(int vcpus) {
        fields = new long[(vcpus + 2) * STRIDE]; // a stride of padding before the first and after the last
        for (int v = 0; v < vcpus; v++)
            fields[at(v) + UNIT] = -1;
    }

    private static int at(int v) {
        return (v + 1) * STRIDE;
    }

    /** The GFN of the unit whose accept is in progress, or -1 when none is. */
    long unit(int v) {
        return fields[at(v) + UNIT];
    }

    int unitLevel(int v) {
        return (int) fields[at(v) + UNIT_LEVEL];
    }

    long gfn(int v) {
        return fields[at(v) + GFN];
    }

    int level(int v) {
        return (int) fields[at(v) + LEVEL];
    }

    long removals(int v) {
        return fields[at(v) + REMOVALS];
    }

    void set(int v, long unit, int unitLevel, long gfn, int level, long removals) {
        int i = at(v);
        fields[i + UNIT] = unit;
        fields[i + UNIT_LEVEL] = unitLevel;
        fields[i + GFN] = gfn;
        fields[i + LEVEL] = level;
        fields[i + REMOVALS] = removals;
    }

    /** No accept in progress: a store only when there was one. */
    void forget(int v) {
        if (fields[at(v) + UNIT] != -1)
            fields[at(v) + UNIT] = -1;
    }
}
