package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptState.BLOCKEDW;
import static org.tdplab.backend.tdx.module.SeptState.MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.NL_MAPPED;
import static org.tdplab.backend.tdx.module.SeptWalk.levelPages;

/**
 * The CPU's walk of a TD's Secure EPT for a guest access. The hardware's walk takes no lock of the module, and
 * {@link #translateUnlocked} takes none either: it serves a vCPU already inside the TD whose walk reaches a mapped
 * leaf (or a write-blocked one, for a read); a walk that ends anywhere else answers {@link #LOCKED}, and the caller
 * walks again under the module's lock ({@link TdxModule#guestTranslate}), where a TD entry, an exit or a #VE changes
 * the vCPU's state.
 *
 * <p>Why a walk without the lock is safe: an S-EPT page or a private page leaves the tree only after its entry was
 * blocked and every vCPU was kicked out of guest mode (TDH.MEM.TRACK, then KVM's kick, which waits for a vCPU's
 * guest-mode section and so for a walk in it); a walk that starts after the kick sees the block, ordered by the kick's
 * fence. An entry written meanwhile is seen or not, as a TLB would hold it: a MAPPED entry read just before its block
 * is a translation the kick ends, and an entry not seen yet (a new page's link, a demoted page's leaves) reads as FREE,
 * and the walk goes to the lock. Whether the vCPU is inside the TD is read without the lock too: a vCPU the kick has
 * just counted out may take one more walk here before it sees that, which starts after the kick's fence and so sees
 * the block before it; while KVM keeps vCPUs out ({@code wait_for_sept_zap}) the caller walks under the lock.
 */
public final class SeptCpuWalk {
    /** The walk did not end at a mapped leaf: walk under the module's lock. */
    public static final long LOCKED = Long.MIN_VALUE;

    private SeptCpuWalk() {
    }

    /**
     * The translation {@code pfn | level << 56} (level 1 = 4K) of {@code gfn} for vCPU {@code v}, inside the TD, or
     * {@link #LOCKED}. Allocation-free; takes no lock.
     */
    public static long translateUnlocked(TdxModule m, int v, long gfn, boolean write) {
        if (!m.lines.inGuest(v))
            return LOCKED;
        long r = walk(m, gfn, write);
        return r >= 0 ? r : LOCKED;
    }

    /**
     * The walk: the translation (≥ 0) where it reaches a leaf the access may use, else {@code -1 - state} of the entry
     * where it stopped ({@link #stoppedAt}).
     */
    static long walk(TdxModule m, long gfn, boolean write) {
        SeptTree sept = m.sept;
        int page = m.rootPage;
        for (int l = m.eptLevels - 1; l >= 0; l--) {
            int idx = SeptTree.index(gfn, l);
            long e = sept.getUnlocked(page, idx);
            int s = SeptTree.state(e);
            if (s == NL_MAPPED && (page = sept.childUnlocked(page, idx)) != 0)
                continue;
            if (s == MAPPED || (s == BLOCKEDW && !write))
                return ((SeptTree.hpa(e) >>> 12) + (gfn & (levelPages(l) - 1))) | ((long) (l + 1) << 56);
            return -1 - (s == NL_MAPPED ? SeptState.FREE : s); // a link not seen yet reads as a missing entry
        }
        return -1 - SeptState.FREE;
    }

    /** The state of the entry where a {@link #walk} that returned {@code r} (< 0) stopped. */
    static int stoppedAt(long r) {
        return (int) (-1 - r);
    }
}
