package org.tdplab.mmu.tdp.mmu;

/** The core's counters, named as the kernel's VM and vCPU stats are. */
public enum Stat {
    PF_TAKEN("pf_taken"),
    PF_FIXED("pf_fixed"),
    PF_SPURIOUS("pf_spurious"),
    PF_RETRY("pf_retry"),
    PF_EMULATE("pf_emulate"),
    PF_MMIO_SPTE_CREATED("pf_mmio_spte_created"),
    PF_FAST("pf_fast"),
    PAGES_4K("pages_4k"),
    PAGES_2M("pages_2m"),
    PAGES_1G("pages_1g"),
    TDP_MMU_PAGES("tdp_mmu_pages"),
    REMOTE_TLB_FLUSH("remote_tlb_flush"),
    REMOTE_TLB_FLUSH_REQUESTS("remote_tlb_flush_requests"),
    MMU_SHADOW_ZAPPED("mmu_shadow_zapped"),
    NX_LPAGE_SPLITS("nx_lpage_splits"),
    LPAGE_SPLITS("lpage_splits"),
    EXITS_MEMORY_FAULT("exits_memory_fault"),
    EXITS_MMIO("exits_mmio"),
    ROOTS_ALLOCATED("roots_allocated"),
    ROOTS_FREED("roots_freed");

    public final String kernelName;

    Stat(String kernelName) {
        this.kernelName = kernelName;
    }

    /** {@code pages_4k}, {@code pages_2m} or {@code pages_1g} for a leaf level. */
    public static Stat pages(int level) {
        return switch (level) {
        case 1 -> PAGES_4K;
        case 2 -> PAGES_2M;
        default -> PAGES_1G;
        };
    }
}
