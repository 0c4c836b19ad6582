package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.tdp.mmu.Roots;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/** Read-only views of one VM's tables: for backends' checks and for {@code expect spte}. */
final class CoreMmuView implements MmuView {
    private final TdpMmu mmu;
    private final VmMemory mem;

    CoreMmuView(TdpMmu mmu, VmMemory mem) {
        this.mmu = mmu;
        this.mem = mem;
    }

    /** The decoded form: the fields walk, an entry made per visit. */
    @Override
    public void forEachLeaf(RootKind kind, LeafVisitor visitor) {
        walk(kind, true, (gfn, level, pfn, r, w, x) -> visitor.visit(gfn, level, SpteChange.Entry.leaf(pfn, r, w, x)));
    }

    @Override
    public void forEachTable(RootKind kind, LeafVisitor visitor) {
        walk(kind, false, (gfn, level, pfn, r, w, x) -> visitor.visit(gfn, level, SpteChange.Entry.table(pfn)));
    }

    @Override
    public void forEachLeaf(RootKind kind, FieldVisitor visitor) {
        walk(kind, true, visitor);
    }

    @Override
    public void forEachTable(RootKind kind, FieldVisitor visitor) {
        walk(kind, false, visitor);
    }

    private void walk(RootKind kind, boolean leaves, FieldVisitor visitor) {
        TdpIter it = new TdpIter(mmu.pool);
        mmu.rcu.readLock();
        try {
            for (int root : mmu.roots.of(Roots.typesOf(kind))) {
                for (mmu.walk(it, root, Spte.PG_LEVEL_4K, 0, mmu.maxGfn()); it.valid; it.next()) {
                    long spte = it.oldSpte;
                    if (!isShadowPresent(spte) || isLast(spte, it.level) != leaves)
                        continue;
                    if (leaves)
                        visitor.visit(it.gfn, it.level, Spte.pfn(spte), (spte & Spte.R) != 0, (spte & Spte.W) != 0,
                                (spte & Spte.X) != 0);
                    else
                        visitor.visit(it.gfn, it.level, Spte.pfn(spte), true, true, true); // as Entry.table reads
                }
            }
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    @Override
    public boolean isPrivate(long gfn) {
        return mem.attributes.isPrivate(gfn);
    }

    @Override
    public long gmemPfnIfPresent(long gfn) {
        return mem.gmemPfnIfPresent(gfn);
    }

    @Override
    public boolean gmemLocked(long gfn) {
        return mem.gmemLocked(gfn);
    }

    /**
     * Every entry from the top level down to the deepest one for {@code gpa}'s GFN; empty without such a root.
     * Lockless, as {@code kvm_tdp_mmu_get_walk} inside {@code walk_shadow_page_lockless_begin}: an RCU read section
     * keeps every table it steps into from being freed and reused as another under it.
     */
    List<SpteInfo> walk(long gpa, RootKind kind) {
        // a GFN past the guest's width would index the tables by its low bits: another GPA's entries
        Ranges.checkRange("walk", mmu.routing.naturalGpa(gpa) & ~0xfffL, 4096, mmu.caps.maxGfn() << 12);
        long gfn = (gpa >>> 12) & ~mmu.directBits;
        TdpIter it = new TdpIter(mmu.pool);
        mmu.rcu.readLock();
        try {
            for (int root : mmu.roots.of(Roots.typesOf(kind))) {
                List<SpteInfo> out = new ArrayList<>();
                for (mmu.walk(it, root, Spte.PG_LEVEL_4K, gfn, gfn + 1); it.valid; it.next()) {
                    long spte = it.oldSpte;
                    boolean present = isShadowPresent(spte);
                    out.add(new SpteInfo(kind, gfn, it.level, spte, present, present && isLast(spte, it.level),
                            present && Spte.isWritable(spte), present ? Spte.pfn(spte) : -1));
                }
                return out;
            }
            return List.of();
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** The deepest entry for {@code gpa}'s GFN in the valid root of that kind; empty without such a root. */
    Optional<SpteInfo> lookup(long gpa, RootKind kind) {
        List<SpteInfo> path = walk(gpa, kind);
        return path.isEmpty() ? Optional.empty() : Optional.of(path.get(path.size() - 1));
    }
}
