package org.tdplab.backend.snp.kvm;

import java.util.BitSet;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The host's SEV-ES/SNP ASIDs, {@code 1 .. min_sev_asid - 1} ({@code sev_asid_new}). A freed ASID waits in the
 * reclaim set until the pool runs dry; then one SNP_DF_FLUSH (with WBINVD) makes every reclaimed ASID usable again,
 * as {@code __sev_recycle_asids} does.
 */
public final class AsidPool {
    /**
     * {@code min_sev_asid} comes from CPUID 0x8000001F EDX and is set by the BIOS; 128 (127 SNP ASIDs) is this
     * model's choice, not a hardware fact.
     */
    public static final int DEFAULT_MIN_SEV_ASID = 128;

    private final int max;
    private final BitSet used = new BitSet(), reclaim = new BitSet();
    private long dfFlushes;

    public AsidPool() {
        this(DEFAULT_MIN_SEV_ASID);
    }

    public AsidPool(int minSevAsid) {
        if (minSevAsid < 2 || minSevAsid > 1024)
            throw new IllegalArgumentException("min_sev_asid " + minSevAsid);
        this.max = minSevAsid - 1;
    }

    /** @throws MmuException EBUSY when every ASID is in use, as KVM_SEV_INIT2 fails */
    public synchronized int allocate() {
        int asid = used.nextClearBit(1);
        if (asid > max && !reclaim.isEmpty()) {
            used.andNot(reclaim); // SNP_DF_FLUSH: the reclaimed ASIDs' cache lines are gone
            reclaim.clear();
            dfFlushes++;
            asid = used.nextClearBit(1);
        }
        if (asid > max)
            throw new MmuException(Errno.EBUSY, "all %d SNP ASIDs (1..%d) are in use", max, max);
        used.set(asid);
        return asid;
    }

    /** Takes {@code asid} for a VM restored from a snapshot. */
    public synchronized void reserve(int asid) {
        if (asid < 1 || asid > max || used.get(asid) && !reclaim.get(asid))
            throw new MmuException(Errno.EBUSY, "SNP ASID %d is not free", asid);
        used.set(asid);
        reclaim.clear(asid);
    }

    /** {@code sev_asid_free}: the ASID is reusable after the next flush. */
    public synchronized void free(int asid) {
        reclaim.set(asid);
    }

    public synchronized long dfFlushes() {
        return dfFlushes;
    }
}
