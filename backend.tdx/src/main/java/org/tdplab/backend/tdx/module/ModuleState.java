package org.tdplab.backend.tdx.module;

import java.util.List;

/**
 * A {@link TdxModule}'s whole state as plain data, for the backend that takes over a TD after a bundle swap: the TDR,
 * the TDCS, each vCPU's TDVPS, the S-EPT pages and the PAMT, every field by name. {@code SnapshotCodec} encodes it
 * and refuses, naming the field, a state another version wrote differently.
 *
 * @param version the module version whose status codes apply ({@code 1.0}, {@code 1.5})
 * @param tdmrLimitPfn frames below it are convertible memory
 * @param td the TDR and TDCS
 * @param vcpus the TDVPS of each vCPU slot, {@code MAX_VCPUS} of them
 * @param sept the Secure-EPT's pages
 * @param pamt the PAMT's 2M chunks
 */
public record ModuleState(String version, long tdmrLimitPfn, Td td, Vcpus vcpus, Sept sept, Pamt pamt) {
    /**
     * The TDR and TDCS fields.
     *
     * @param tdrPfn the TDR page, -1 before TDH.MNG.CREATE
     * @param hkid the TD's private HKID
     * @param lifecycle the TDR lifecycle state
     * @param fatal the TD hit a fatal error
     * @param chldcnt 4K units the TD owns besides the TDR
     * @param tdcsPfns the TDCS pages
     * @param tdcsAdded how many were added
     * @param opState the TDCS operation state
     * @param eptLevels S-EPT levels (4 or 5)
     * @param sharedBit the GPA shared bit
     * @param attributes TD_ATTRIBUTES
     * @param tdEpoch the TD epoch (TDH.MEM.TRACK)
     * @param refcount vCPUs in the guest at the current and previous epoch
     * @param mrtd the build-time measurement
     * @param rootPage the S-EPT root page id
     * @param maxEpochChecked the newest epoch a blocked entry was checked against
     * @param vpEnters TDH.VP.ENTER count
     * @param eptFlushes S-EPT flushes
     */
    public record Td(long tdrPfn, int hkid, int lifecycle, boolean fatal, long chldcnt, long[] tdcsPfns, int tdcsAdded,
            int opState, int eptLevels, int sharedBit, long attributes, long tdEpoch, int[] refcount, long mrtd,
            int rootPage, long maxEpochChecked, long vpEnters, long eptFlushes) {
    }

    /**
     * The TDVPS of each vCPU slot, one array element per slot.
     *
     * @param numVcpus vCPUs created
     * @param tdvprPfn each vCPU's TDVPR page, -1 for none
     * @param tdcxAdded TDCX pages added
     * @param initialized TDH.VP.INIT done
     * @param flushed TDH.VP.FLUSH done
     * @param inGuest running in the guest now
     * @param epoch the TD epoch it entered at
     * @param enterSeq its TDH.VP.ENTER count
     * @param acceptedHpa the page its pending TDG.MEM.PAGE.ACCEPT is on
     * @param extExitQual the extended exit qualification of its last TD exit
     */
    public record Vcpus(int numVcpus, long[] tdvprPfn, int[] tdcxAdded, boolean[] initialized, boolean[] flushed,
            boolean[] inGuest, long[] epoch, long[] enterSeq, long[] acceptedHpa, long[] extExitQual) {
    }

    /**
     * The S-EPT: its live pages by id, and the ids free for reuse.
     *
     * @param pages the live pages
     * @param next the id after the highest ever used
     * @param freeHead the first free id, 0 for none
     * @param freeNext for each id, the free id after it
     */
    public record Sept(List<SeptPage> pages, int next, int freeHead, int[] freeNext) {
    }

    /**
     * One S-EPT page.
     *
     * @param id its id
     * @param level its S-EPT level (0 = the 4K leaves' page)
     * @param gfn the first GFN it covers
     * @param pfn the frame backing it
     * @param entries its 512 entries
     * @param children for each entry, the id of the page it links (empty at level 0)
     */
    public record SeptPage(int id, int level, long gfn, long pfn, long[] entries, int[] children) {
    }

    /**
     * The PAMT's 2M chunks that hold an entry.
     *
     * @param chunks each chunk's {@code pfn >> 9}
     * @param entries each chunk's 512 entries and its count of non-zero ones, in the order of {@code chunks}
     * @param dynamic Dynamic PAMT
     * @param pairs with Dynamic PAMT, each 2M range's pair: {@code pfn >> 9, pfn0, pfn1} triplets
     */
    public record Pamt(long[] chunks, List<long[]> entries, boolean dynamic, long[] pairs) {
    }
}
