package org.tdplab.mmu.tdp.mmu;

import org.tdplab.mmu.tdp.pt.TdpIter;

/**
 * {@code struct kvm_page_fault}: one per vCPU, reused for every fault so the fault path allocates nothing.
 * Filled by the fault handler from the exit, the memslot and the pfn lookup; read by {@link TdpMap}.
 */
public final class PageFault extends org.tdplab.mmu.tdp.sync.LinePadded {
    /** Results, as {@code RET_PF_*}. */
    public static final int RET_PF_CONTINUE = 0, RET_PF_RETRY = 1, RET_PF_EMULATE = 2, RET_PF_WRITE_PROTECTED = 3,
            RET_PF_INVALID = 4, RET_PF_FIXED = 5, RET_PF_SPURIOUS = 6;

    public final TdpIter iter;

    public long addr;
    public long gfn;
    public boolean write, exec, isPrivate, prefetch;
    /** The memslot was found; false means an MMIO SPTE is installed. */
    public boolean hasSlot;
    public long pfn;
    public boolean hostWritable, mapWritable;
    /** The page goes writable into a dirty-logged memslot: mark it dirty under the MMU lock. */
    public boolean logDirty;
    public int maxLevel, reqLevel, goalLevel;
    /** An exec fault with the NX huge page mitigation on: the mapping must be 4K ({@code huge_page_disallowed}). */
    public boolean hugePageDisallowed;
    public long mmioGeneration;
    /** Scratch of the fast path: the last SPTE's value and level. */
    public long fastSpte;
    public int fastLevel;
    /**
     * Why the last {@link #RET_PF_RETRY} was returned, a constant (set on the retry paths only): what an access
     * that never completes reports.
     */
    public String retryReason = "";
    /**
     * The last retry waits for another operation over the page (its invalidation window, a memslot being changed),
     * which may run for as long as its range is large; any other retry is expected to succeed soon.
     */
    public boolean retryWaits;

    public PageFault(TdpIter iter) {
        this.iter = iter;
    }

    public void reset(long addr, long gfn, boolean write, boolean exec, boolean isPrivate, boolean prefetch) {
        this.addr = addr;
        this.gfn = gfn;
        this.write = write;
        this.exec = exec;
        this.isPrivate = isPrivate;
        this.prefetch = prefetch;
        this.hasSlot = false;
        this.pfn = -1;
        this.hostWritable = false;
        this.mapWritable = false;
        this.logDirty = false;
        this.maxLevel = 3;
        this.reqLevel = 1;
        this.goalLevel = 1;
        this.hugePageDisallowed = false;
        this.mmioGeneration = 0;
    }

    /** Returns {@link #RET_PF_RETRY}, noting why. */
    public int retry(String reason) {
        retryReason = reason;
        retryWaits = false;
        return RET_PF_RETRY;
    }

    /** Returns {@link #RET_PF_RETRY} for a fault that waits for another operation over its page. */
    public int waitFor(String reason) {
        retryReason = reason;
        retryWaits = true;
        return RET_PF_RETRY;
    }

    public static String name(int ret) {
        return switch (ret) {
        case RET_PF_CONTINUE -> "CONTINUE";
        case RET_PF_RETRY -> "RETRY";
        case RET_PF_EMULATE -> "EMULATE";
        case RET_PF_WRITE_PROTECTED -> "WRITE_PROTECTED";
        case RET_PF_INVALID -> "INVALID";
        case RET_PF_FIXED -> "FIXED";
        case RET_PF_SPURIOUS -> "SPURIOUS";
        default -> "RET" + ret;
        };
    }
}
