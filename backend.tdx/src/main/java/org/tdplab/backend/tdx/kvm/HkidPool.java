package org.tdplab.backend.tdx.kvm;

import java.util.BitSet;

import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** The platform's private HKIDs ({@code tdx_guest_keyid_alloc} / {@code tdx_guest_keyid_free}): one per live TD. */
public final class HkidPool {
    private final BitSet used = new BitSet();
    private final int max;

    public HkidPool() {
        this(TdxAbi.MAX_HKID);
    }

    public HkidPool(int max) {
        this.max = max;
    }

    /** @throws MmuException {@code ENOSPC} when every HKID is in use, as the kernel's IDA answers */
    public synchronized int alloc() {
        int id = used.nextClearBit(1);
        if (id > max)
            throw new MmuException(Errno.ENOSPC, "every one of the %d private HKIDs is in use by a TD", max);
        used.set(id);
        return id;
    }

    /** Takes {@code id} for a TD restored from a snapshot. */
    public synchronized void reserve(int id) {
        if (id < 1 || id > max || used.get(id))
            throw new MmuException(Errno.EBUSY, "HKID %d is not free", id);
        used.set(id);
    }

    public synchronized void free(int id) {
        used.clear(id);
    }

    public synchronized int inUse() {
        return used.cardinality();
    }
}
