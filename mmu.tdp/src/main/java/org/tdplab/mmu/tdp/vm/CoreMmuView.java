package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;

/** Read-only views of one VM's tables: for backends' checks and for {@code expect spte}. */
final class CoreMmuView implements MmuView {
    private final CoreVm vm;
    private final TdpMmu mmu;

    CoreMmuView(CoreVm vm) {
        this.vm = vm;
        this.mmu = vm.mmu;
    }

    @Override
    public void forEachLeaf(RootKind kind, LeafVisitor visitor) {
        walk(kind, true, visitor);
    }

    @Override
    public void forEachTable(RootKind kind, LeafVisitor visitor) {
        walk(kind, false, visitor);
    }

    private void walk(RootKind kind, boolean leaves, LeafVisitor visitor) {
        TdpIter it = new TdpIter(mmu.pool);
        for (int root : mmu.roots()) {
            if (mmu.pool.isInvalid(root) || mmu.kindOf(root) != kind)
                continue;
            for (it.start(root, mmu.rootLevel, Spte.PG_LEVEL_4K, 0, mmu.maxGfn(), mmu.gfnBits(root)); it.valid; it.next()) {
                long spte = it.oldSpte;
                if (isShadowPresent(spte) && isLast(spte, it.level) == leaves)
                    visitor.visit(it.gfn, it.level, spte, Spte.pfn(spte));
            }
        }
    }

    @Override
    public boolean isPrivate(long gfn) {
        return vm.attributes.isPrivate(gfn);
    }

    @Override
    public long gmemPfnIfPresent(long gfn) {
        Memslot slot = vm.memslots.find(gfn);
        return slot == null || !slot.isGmem() ? -1 : slot.gmem().pfnIfPresent(slot.gmemIndex(gfn));
    }

    /**
     * The deepest entry for {@code gpa}'s GFN in the valid root of that kind (direct roots are indexed by the
     * aliased GFN). Empty when the VM has no such root.
     */
    /** Every entry from the top level down to the deepest one for {@code gpa}'s GFN; empty without such a root. */
    List<SpteInfo> walk(long gpa, RootKind kind) {
        long gfn = (gpa >>> 12) & ~mmu.directBits;
        for (int root : mmu.roots()) {
            if (mmu.pool.isInvalid(root) || mmu.kindOf(root) != kind)
                continue;
            List<SpteInfo> out = new ArrayList<>();
            long index = gfn | mmu.gfnBits(root);
            int table = root;
            for (int level = mmu.rootLevel; level >= 1; level--) {
                long spte = mmu.pool.get(TablePool.sptep(table, Spte.indexAt(index, level)));
                boolean present = isShadowPresent(spte);
                boolean leaf = present && isLast(spte, level);
                out.add(new SpteInfo(kind, gfn, level, spte, present, leaf, present && Spte.isWritable(spte),
                        present ? Spte.pfn(spte) : -1));
                if (!present || leaf)
                    break;
                table = mmu.pool.idOfPfn(Spte.pfn(spte));
            }
            return out;
        }
        return List.of();
    }

    Optional<SpteInfo> lookup(long gpa, RootKind kind) {
        long gfn = (gpa >>> 12) & ~mmu.directBits;
        for (int root : mmu.roots()) {
            if (mmu.pool.isInvalid(root) || mmu.kindOf(root) != kind)
                continue;
            long index = gfn | mmu.gfnBits(root);
            int table = root;
            for (int level = mmu.rootLevel; level >= 1; level--) {
                long spte = mmu.pool.get(TablePool.sptep(table, Spte.indexAt(index, level)));
                boolean present = isShadowPresent(spte);
                if (!present || isLast(spte, level))
                    return Optional.of(new SpteInfo(kind, gfn, level, spte, present, present, Spte.isWritable(spte),
                            present ? Spte.pfn(spte) : -1));
                table = mmu.pool.idOfPfn(Spte.pfn(spte));
            }
        }
        return Optional.empty();
    }
}
