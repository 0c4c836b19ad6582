package org.tdplab.backend.tdx.module;

/**
 * The TDVPS fields of each vCPU that its entries, exits and accepts write — whether it is inside the TD, its epoch,
 * its entry count, the HPA its last ACCEPT mapped and its last exit's qualification — and its share of the TD's
 * counts of entries, of EPT flushes and of vCPUs inside per epoch parity, a cache line per vCPU. Kept as one array
 * per field (and the counts as TD-wide fields), two vCPU threads faulting at once wrote the same lines at every entry
 * and exit.
 */
final class VcpuLines {
    /** The fields a snapshot keeps one array of. */
    static final int EPOCH = 1, ENTER_SEQ = 2, ACCEPTED_HPA = 3, EXT_EXIT_QUAL = 4;
    /**
     * A vCPU's fields (12 longs, 96 bytes) and padding: 256 bytes, so that at least 128 bytes lie between one vCPU's
     * last field and the next one's first. The adjacent-line prefetcher moves 64-byte lines in pairs, and the array
     * is only 8-byte aligned: with 128 bytes a vCPU (a gap of 32), a pair of lines could hold one vCPU's walk memory
     * and the next one's entry state, which both write at every fault (random order).
     */
    private static final int IN_GUEST = 0, ENTERS = 5, EPT_FLUSHES = 6, REFS = 7, WALK_REGION = 9, WALK_PAGE = 10,
            WALK_GENERATION = 11, STRIDE = 32;
    private final long[] fields;
    private final int vcpus;

    VcpuLines(int vcpus) {
        this.vcpus = vcpus;
        this.fields = new long[(vcpus + 2) * STRIDE]; // a stride of padding before the first and after the last
    }

    private static int at(int v, int field) {
        return (v + 1) * STRIDE + field;
    }

    boolean inGuest(int v) {
        return fields[at(v, IN_GUEST)] != 0;
    }

    void setInGuest(int v, boolean in) {
        fields[at(v, IN_GUEST)] = in ? 1 : 0;
    }

    long epoch(int v) {
        return fields[at(v, EPOCH)];
    }

    void setEpoch(int v, long epoch) {
        fields[at(v, EPOCH)] = epoch;
    }

    long enterSeq(int v) {
        return fields[at(v, ENTER_SEQ)];
    }

    void entered(int v) {
        fields[at(v, ENTER_SEQ)]++;
    }

    /** vCPU {@code v} entered the TD; {@code flushed}: its epoch was stale, so the entry flushed the EPT TLB. */
    void counted(int v, boolean flushed) {
        fields[at(v, ENTERS)]++;
        if (flushed)
            fields[at(v, EPT_FLUSHES)]++;
    }

    /** The TD's TDH.VP.ENTER count ({@code flushes} false) or EPT-flush count: every vCPU's share. */
    long total(boolean flushes) {
        long n = 0;
        for (int v = 0; v < vcpus; v++)
            n += fields[at(v, flushes ? EPT_FLUSHES : ENTERS)];
        return n;
    }

    /** A restored TD's counts, all in vCPU 0's share. */
    void restoreTotals(long enters, long flushes) {
        for (int v = 0; v < vcpus; v++)
            fields[at(v, ENTERS)] = fields[at(v, EPT_FLUSHES)] = 0;
        fields[at(0, ENTERS)] = enters;
        fields[at(0, EPT_FLUSHES)] = flushes;
    }

    /**
     * Adds {@code delta} to vCPU {@code v}'s share of the TD's epoch refcount of {@code parity}: an entry counts in
     * its epoch, an exit takes it back. Written by the thread the vCPU runs on holding the module's lock shared, or
     * by any thread holding it exclusively (a kick's count, teardown): no two threads write one vCPU's share at once.
     * (As two per-thread counters, every entry and exit looked up its thread's row.)
     */
    void addRef(int v, int parity, long delta) {
        fields[at(v, REFS + parity)] += delta;
    }

    /**
     * The TD's epoch refcount of {@code parity} ({@code TD_EPOCH_REFCOUNT}): the sum of the vCPUs' shares, read
     * holding the module's lock exclusively (a share alone means nothing: an exit by the host's kick takes back
     * another vCPU's count, a restore puts the whole count in vCPU 0's share).
     */
    long refcount(int parity) {
        long n = 0;
        for (int v = 0; v < vcpus; v++)
            n += fields[at(v, REFS + parity)];
        return n;
    }

    /** A restored TD's refcount of {@code parity}, all in vCPU 0's share. */
    void restoreRefcount(int parity, long count) {
        for (int v = 0; v < vcpus; v++)
            fields[at(v, REFS + parity)] = 0;
        fields[at(0, REFS + parity)] = count;
    }

    /**
     * The S-EPT page of 4K entries vCPU {@code v}'s last ACCEPT walk reached for the 2M region {@code gfn >>> 9}, if
     * the tree's links did not change since ({@link SeptTree#linkGeneration} still {@code generation}), else 0.
     */
    int walkedPage(int v, long gfn, long generation) {
        int at = at(v, 0);
        return fields[at + WALK_REGION] == (gfn >>> 9) + 1 && fields[at + WALK_GENERATION] == generation
                ? (int) fields[at + WALK_PAGE] : 0;
    }

    /** The first GFN of the 2M region vCPU {@code v}'s walk memory is about, or -1 (for the checker). */
    long walkedRegionGfn(int v) {
        long region = fields[at(v, 0) + WALK_REGION];
        return region == 0 ? -1 : (region - 1) << 9;
    }

    /** Remembers the page of 4K entries a walk of vCPU {@code v} reached for {@code gfn}'s 2M region. */
    void walked(int v, long gfn, int page, long generation) {
        int at = at(v, 0);
        fields[at + WALK_REGION] = (gfn >>> 9) + 1; // 0: nothing remembered
        fields[at + WALK_PAGE] = page;
        fields[at + WALK_GENERATION] = generation;
    }

    long acceptedHpa(int v) {
        return fields[at(v, ACCEPTED_HPA)];
    }

    void setAcceptedHpa(int v, long hpa) {
        fields[at(v, ACCEPTED_HPA)] = hpa;
    }

    long extExitQual(int v) {
        return fields[at(v, EXT_EXIT_QUAL)];
    }

    void setExtExitQual(int v, long eeq) {
        fields[at(v, EXT_EXIT_QUAL)] = eeq;
    }

    // ---- as one array per field, for a snapshot --------------------------------------------------------------------

    long[] array(int field) {
        long[] out = new long[vcpus];
        for (int v = 0; v < vcpus; v++)
            out[v] = fields[at(v, field)];
        return out;
    }

    boolean[] inGuestArray() {
        long[] in = array(IN_GUEST);
        boolean[] out = new boolean[vcpus];
        for (int v = 0; v < vcpus; v++)
            out[v] = in[v] != 0;
        return out;
    }

    /** Restores {@code field} from a snapshot's array, named {@code name} when its length does not fit. */
    void restore(String name, int field, long[] values) {
        if (values.length != vcpus)
            throw ModuleSnapshot.doesNotFit(name, values.length, vcpus);
        for (int v = 0; v < vcpus; v++)
            fields[at(v, field)] = values[v];
    }

    void restoreInGuest(boolean[] values) {
        long[] in = new long[values.length];
        for (int v = 0; v < values.length; v++)
            in[v] = values[v] ? 1 : 0;
        restore("vcpus.inGuest", IN_GUEST, in);
    }
}
