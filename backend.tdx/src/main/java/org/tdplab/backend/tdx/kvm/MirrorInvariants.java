package org.tdplab.backend.tdx.kvm;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.tdplab.backend.tdx.module.ModuleView;
import org.tdplab.backend.tdx.module.SeptState;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.MmuView;

/**
 * Spec §8 invariants 9 (mirror ↔ S-EPT, both ways: every mirror leaf has an S-EPT leaf of the same size and pfn,
 * every mirror table a linked S-EPT page, and back) and 13 (private leaves are 4K, or up to 2M with huge pages),
 * checked by comparing KVM's mirror root with the module's S-EPT, plus the module's own invariants. Runs under the
 * MMU write lock, so no install is in its FROZEN window and no removal or split is half done.
 */
final class MirrorInvariants {
    private MirrorInvariants() {
    }

    /** (gfn rounded to the entry's coverage, TDX level) as one key. */
    private static long key(long gfn, int septLevel) {
        return (gfn & -(1L << (9 * septLevel))) | ((long) septLevel << 58);
    }

    /**
     * Both directions without a set of every leaf (a 1 TiB TD has 2^28 of them): the forward walk proves each mirror
     * leaf and table has its S-EPT entry at the same key, and keys are one-to-one with S-EPT entries, so the reverse
     * direction holds exactly when the S-EPT has no more leaves and linked pages than the walk matched. Only when it
     * has more are the mirror's keys collected, to name the extra entries.
     *
     * @param maxLevel the largest private leaf the TD may have (1 = 4K, 2 = 2M)
     * @param abandoned the S-EPT leaves a failed removal or split left BLOCKED, the VM bugged: KVM's mirror no longer
     *     has them (a removal) or keeps its huge leaf over them (a split), and the module keeps them blocked
     */
    static void check(MmuView view, TdxModule module, int maxLevel, ModuleView.Abandoned abandoned,
            List<String> out) {
        module.view().check(out, abandoned);
        if (module.view().lifecycle() != TdxAbi.LC_KEYS_CONFIGURED)
            return; // the S-EPT is no longer walkable once the TD is blocked for teardown
        long[] matched = new long[2]; // leaves, tables
        ModuleView sept = module.view();
        // one exclusive hold over both walks: each look-up below then only nests in it (the lock nests) instead of
        // waiting for the shared holders to drain once per leaf; the order is the kernel's, MMU lock then module
        module.lock.lockExclusive();
        try {
            view.forEachLeaf(RootKind.MIRROR, (gfn, level, pfn, r, w, x) -> { // no object per leaf
                if (level > maxLevel)
                    out.add(String.format("inv 13: mirror leaf for gfn 0x%x has level %d; TDX private leaves are %s",
                            gfn, level, maxLevel == 1 ? "4K" : "at most 2M"));
                long e = sept.lookup(gfn, level - 1);
                int s = e < 0 ? -1 : TdxAbi.stateOf(e);
                if (e < 0 || !SeptState.isLeaf(s))
                    out.add(String.format("inv 9: mirror leaf gfn 0x%x -> pfn 0x%x has no S-EPT leaf (%s)", gfn, pfn,
                            e < 0 ? "walk stops above" : SeptState.name(s)));
                else {
                    matched[0]++;
                    if ((TdxAbi.hpaOf(e) >>> 12) != pfn)
                        out.add(String.format("inv 9: mirror leaf gfn 0x%x -> pfn 0x%x, the S-EPT maps pfn 0x%x", gfn,
                                pfn, TdxAbi.hpaOf(e) >>> 12));
                }
            });
            view.forEachTable(RootKind.MIRROR, (gfn, level, pfn, r, w, x) -> {
                long e = sept.lookup(gfn, level - 1);
                if (e < 0 || TdxAbi.stateOf(e) != SeptState.NL_MAPPED)
                    out.add(String.format("inv 9: mirror table entry gfn 0x%x level %d has no linked S-EPT page (%s)",
                            gfn, level, e < 0 ? "walk stops above" : SeptState.name(TdxAbi.stateOf(e))));
                else
                    matched[1]++;
            });
        } finally {
            module.lock.unlockExclusive();
        }
        long[] present = new long[2];
        module.view().forEachPresent((gfn, septLevel, state, hpa) -> present[SeptState.isNonLeaf(state) ? 1 : 0]++);
        if (present[0] != matched[0] || present[1] != matched[1])
            nameUnmatched(view, module, abandoned, out);
    }

    /** The S-EPT entries with no mirror entry at their key (the reverse direction, spelled out). */
    private static void nameUnmatched(MmuView view, TdxModule module, ModuleView.Abandoned abandoned,
            List<String> out) {
        Set<Long> leaves = new HashSet<>();
        Set<Long> tables = new HashSet<>();
        view.forEachLeaf(RootKind.MIRROR, (gfn, level, pfn, r, w, x) -> leaves.add(key(gfn, level - 1)));
        view.forEachTable(RootKind.MIRROR, (gfn, level, pfn, r, w, x) -> tables.add(key(gfn, level - 1)));
        module.view().forEachPresent((gfn, septLevel, state, hpa) -> {
            long k = key(gfn, septLevel);
            if (SeptState.isNonLeaf(state)) {
                if (!tables.contains(k))
                    out.add(String.format("inv 9: S-EPT links a page at gpa 0x%x level %d with no mirror table there",
                            gfn << 12, septLevel));
            } else if (!leaves.contains(k) && !(SeptState.anyBlocked(state) && abandoned.blocked(gfn, septLevel))) {
                out.add(String.format("inv 9: S-EPT maps gpa 0x%x (%s) with no mirror leaf", gfn << 12,
                        SeptState.name(state)));
            }
        });
    }
}
