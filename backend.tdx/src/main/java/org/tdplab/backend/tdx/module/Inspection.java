package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptWalk.failed;
import static org.tdplab.backend.tdx.module.SeptWalk.levelPages;

import java.util.List;

import org.tdplab.backend.tdx.module.ModuleView.EntryVisitor;

/**
 * Read-only views of the module for KVM's checks and the tests: S-EPT lookups without a SEAMCALL, a walk over the
 * live tree, and the module's own invariants. None of it changes state except the epoch high-water mark of I6.
 */
final class Inspection {
    private final TdxModule m;
    private final SeptTree sept;
    private final Pamt pamt;
    private final SeptWalk walk;

    Inspection(TdxModule m, SeptWalk walk) {
        this.m = m;
        this.sept = m.sept;
        this.pamt = m.pamt;
        this.walk = walk;
    }

    /** Whether there is a live S-EPT to look at. */
    private boolean treeLive() {
        return m.rootPage != 0 && m.lifecycle == TdxAbi.LC_KEYS_CONFIGURED;
    }

    /** SEPT.RD's view without the SEAMCALL: the entry of {@code level} for {@code gfn} as {@code state|hpa}, or -1. */
    long lookup(long gfn, int level) {
        if (!treeLive())
            return -1;
        long pos = walk.walk(gfn, level);
        if (failed(pos))
            return -1;
        long e = walk.entry(pos);
        return SeptTree.state(e) | SeptTree.hpa(e);
    }

    /** Whether the S-EPT page in that frame still has a present entry (leaf-before-table checks). */
    boolean septPageInUse(long framePfn) {
        int page = sept.pageAt(framePfn);
        if (page == 0)
            return false;
        for (int i = 0; i < 512; i++) {
            int s = SeptTree.state(sept.get(page, i));
            // a leaf, or a link to a page not reclaimed yet
            if (SeptState.isPresent(s) && (!SeptState.isNonLeaf(s) || sept.isLive(sept.child(page, i))))
                return true;
        }
        return false;
    }

    /** Visits every present entry of the live tree, top-down. */
    void forEachPresent(EntryVisitor visitor) {
        if (!treeLive())
            return;
        visit(m.rootPage, visitor);
    }

    private void visit(int page, EntryVisitor visitor) {
        int l = sept.level(page);
        for (int i = 0; i < 512; i++) {
            long e = sept.get(page, i);
            int s = SeptTree.state(e);
            if (!SeptState.isPresent(s))
                continue;
            visitor.visit(sept.baseGfn(page) + i * levelPages(l), l, s, SeptTree.hpa(e));
            if (SeptState.isNonLeaf(s))
                visit(sept.child(page, i), visitor);
        }
    }

    /** See {@link TdxModule#check}. */
    void check(List<String> out, ModuleView.Abandoned abandoned) {
        if (m.tdEpoch < m.maxEpochChecked)
            out.add(String.format("tdx I6: the TD epoch went back from %d to %d", m.maxEpochChecked, m.tdEpoch));
        m.maxEpochChecked = Math.max(m.maxEpochChecked, m.tdEpoch);
        int[] inEpoch = new int[2];
        for (int v = 0; v < m.vcpus.count; v++) {
            if (!m.lines.inGuest(v))
                continue;
            inEpoch[(int) (m.lines.epoch(v) & 1)]++;
            if (m.lines.epoch(v) != m.tdEpoch && m.lines.epoch(v) != m.tdEpoch - 1)
                out.add(String.format("tdx I6: vCPU %d runs in epoch %d, the TD epoch is %d", v, m.lines.epoch(v),
                        m.tdEpoch));
        }
        for (int p = 0; p < 2; p++)
            if (m.lines.refcount(p) != inEpoch[p])
                out.add(String.format("tdx I6: refcount[%d] = %d but %d vCPUs run in epochs of that parity", p,
                        m.lines.refcount(p), inEpoch[p]));
        if (pamt.dynamic())
            checkDynamicPamt(out);
        if (!treeLive())
            return;
        checkWalkMemory(out);
        long[] counted = new long[2]; // REG 4K units, S-EPT pages
        PfnMarks seen = new PfnMarks();
        checkPage(m.rootPage, out, counted, seen, abandoned);
        long[] owned = new long[Pamt.PT_TDVPR + 1];
        pamt.forEachAssigned(pfn -> owned[Pamt.type(pamt.get(pfn))]++);
        if (owned[Pamt.PT_REG] != counted[0])
            out.add(String.format("tdx I3: the PAMT holds %d REG 4K pages, the S-EPT maps %d", owned[Pamt.PT_REG],
                    counted[0]));
        if (owned[Pamt.PT_EPT] != counted[1])
            out.add(String.format("tdx I2: the PAMT holds %d EPT pages, the S-EPT links %d", owned[Pamt.PT_EPT],
                    counted[1]));
        long expect = owned[Pamt.PT_REG] + owned[Pamt.PT_EPT] + owned[Pamt.PT_TDCX] + owned[Pamt.PT_TDVPR];
        if (m.chldcnt.sum() != expect)
            out.add(String.format("tdx I4: chldcnt = %d, the TD owns %d 4K units", m.chldcnt.sum(), expect));
    }

    /**
     * The walks' memory of the page of 4K entries they reached (the host's per thread slot, each vCPU's for its
     * ACCEPTs) names the page a walk from the root reaches now: the model's shortcut, not the module's state, so a
     * page remembered past a link's change would send a SEAMCALL to the wrong entries.
     */
    private void checkWalkMemory(List<String> out) {
        sept.forEachWalked((page, gfn) -> {
            long pos = walk.walkFromRoot(gfn, 0);
            if (pos < 0 || SeptWalk.posPage(pos) != page)
                out.add(String.format("tdx walk memory: the host's walks go to S-EPT page %d for GPA 0x%x, a walk "
                        + "from the root %s", page, gfn << 12, reached(pos)));
        });
        long generation = sept.linkGeneration();
        for (int v = 0; v < m.vcpus.count; v++) {
            long gfn = m.lines.walkedRegionGfn(v);
            int page = gfn < 0 ? 0 : m.lines.walkedPage(v, gfn, generation);
            if (page == 0)
                continue;
            long pos = walk.guestWalk(gfn, 0);
            if (pos < 0 || SeptWalk.posPage(pos) != page)
                out.add(String.format("tdx walk memory: vCPU %d's ACCEPTs go to S-EPT page %d for GPA 0x%x, the "
                        + "guest's walk from the root %s", v, page, gfn << 12, reached(pos)));
        }
    }

    private static String reached(long pos) {
        return pos < 0 ? "stops at level " + (pos & 15) : "reaches page " + SeptWalk.posPage(pos);
    }

    /** Dynamic PAMT: a 4K page is owned only in a 2M range with a pair, and each pair's pages are still its. */
    private void checkDynamicPamt(List<String> out) {
        long[] first = { -1 };
        pamt.forEachAssigned(pfn -> {
            if (first[0] < 0 && Pamt.size(pamt.get(pfn)) == Pamt.SIZE_4K && !pamt.has4kEntries(pfn))
                first[0] = pfn;
        });
        if (first[0] >= 0)
            out.add(String.format("tdx D1: 4K page 0x%x is %s in a 2M range without a PAMT pair", first[0] << 12,
                    Pamt.typeName(pamt.typeOf(first[0]))));
        long[] p = pamt.pairsFlat();
        for (int i = 0; i < p.length; i += 3)
            for (int k = 1; k <= 2; k++)
                if (!pamt.isPairPage(p[i + k])) {
                    out.add(String.format("tdx D1: page 0x%x of the PAMT pair of range 0x%x is %s, not a pair page",
                            p[i + k] << 12, p[i] << 21, Pamt.typeName(pamt.typeOf(p[i + k]))));
                    return;
                }
    }

    private void checkPage(int page, List<String> out, long[] counted, PfnMarks seen,
            ModuleView.Abandoned abandoned) {
        int l = sept.level(page);
        for (int i = 0; i < 512; i++) {
            long e = sept.get(page, i);
            int s = SeptTree.state(e);
            if (!SeptState.isPresent(s))
                continue;
            long gfn = sept.baseGfn(page) + i * levelPages(l);
            long pfn = SeptTree.hpa(e) >>> 12;
            if (SeptState.anyBlocked(s) && !abandoned.blocked(gfn, l))
                out.add(String.format("tdx: gpa 0x%x level %d is %s outside a removal in progress", gfn << 12, l,
                        SeptState.name(s)));
            if (SeptState.isNonLeaf(s)) {
                int child = sept.child(page, i);
                if (l == 0 || !sept.isLive(child) || sept.level(child) != l - 1 || sept.framePfn(child) != pfn)
                    out.add(String.format("tdx I2: gpa 0x%x level %d links no S-EPT page of level %d", gfn << 12, l,
                            l - 1));
                else {
                    long pe = pamt.get(pfn);
                    if (Pamt.type(pe) != Pamt.PT_EPT || Pamt.owner(pe) != TdxAbi.TD_ID)
                        out.add(String.format("tdx I2: S-EPT page 0x%x is PAMT %s", pfn << 12,
                                Pamt.typeName(Pamt.type(pe))));
                    counted[1]++;
                    checkPage(child, out, counted, seen, abandoned);
                }
                continue;
            }
            long pe = pamt.get(pfn);
            if (Pamt.type(pe) != Pamt.PT_REG || Pamt.owner(pe) != TdxAbi.TD_ID || Pamt.size(pe) != l)
                out.add(String.format("tdx I3: gpa 0x%x maps page 0x%x whose PAMT is %s size %d, not REG size %d",
                        gfn << 12, pfn << 12, Pamt.typeName(Pamt.type(pe)), Pamt.size(pe), l));
            if (!seen.mark(pfn))
                out.add(String.format("tdx I3: page 0x%x is mapped twice", pfn << 12));
            counted[0] += levelPages(l);
        }
    }
}
