package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The calls into the backend for tables it keeps a copy of (the kernel's {@code *_external_sp*} hooks): each SPTE
 * change decoded into a {@link SpteChange} (an install into its fields, which need no record per fault), and each
 * status other than OK turned into the VM's bug reason naming the hook, the entry and the backend's errno and reason.
 */
public final class ExternalTables {
    /** How often a split the backend answers BUSY is tried again under the write lock before the VM is bugged. */
    static final int SPLIT_BUSY_RETRIES = 64;

    private final MmuHost host;

    ExternalTables(MmuHost host) {
        this.host = host;
    }

    /** {@code spte_to_pfn} and the permission bits, read once for the backend. */
    public static SpteChange.Entry decode(long spte, int level) {
        if (!isShadowPresent(spte))
            return SpteChange.Entry.ABSENT;
        if (!isLast(spte, level))
            return SpteChange.Entry.table(Spte.pfn(spte));
        return SpteChange.Entry.leaf(Spte.pfn(spte), (spte & Spte.R) != 0, (spte & Spte.W) != 0,
                (spte & Spte.X) != 0);
    }

    static SpteChange change(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        return new SpteChange(root, gfn, level, decode(oldSpte, level), decode(newSpte, level));
    }

    /**
     * {@code set_external_spte} for an install ({@code oldSpte} non-present, {@code newSpte} present), the entry
     * frozen meanwhile (read lock): OK, BUSY or bugged. Passed as fields, not decoded into a change.
     */
    HookStatus install(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        boolean leaf = isLast(newSpte, level);
        HookStatus s = host.backend().installExternalSpte(root, gfn, level, leaf, Spte.pfn(newSpte),
                !leaf || (newSpte & Spte.R) != 0, !leaf || (newSpte & Spte.W) != 0, !leaf || (newSpte & Spte.X) != 0);
        if (s.isError())
            host.bug(String.format("set_external_spte failed to install gfn 0x%x level %d: %s", gfn, level, s));
        return s;
    }

    /**
     * {@code remove_external_spte} (write lock): cannot be retried, so BUSY is as fatal as an error. A present leaf
     * goes as its fields (no record per page zapped); anything else as a decoded change, for the backend to refuse.
     */
    void removeLeaf(RootKind root, long gfn, int level, long oldSpte) {
        HookStatus s = isShadowPresent(oldSpte) && isLast(oldSpte, level)
                ? host.backend().removeExternalSpte(root, gfn, level, Spte.pfn(oldSpte), (oldSpte & Spte.R) != 0,
                        (oldSpte & Spte.W) != 0, (oldSpte & Spte.X) != 0)
                : host.backend().setExternalSpte(change(root, gfn, level, oldSpte, Spte.SHADOW_NONPRESENT_VALUE));
        if (!s.isOk())
            host.bug(String.format("remove_external_spte failed for gfn 0x%x level %d: %s", gfn, level, s));
    }

    /**
     * {@code split_external_spt} (write lock): the backend splits its copy of the huge leaf {@code oldSpte} into the
     * table {@code newSpte} points at; BUSY is retried a bounded number of times. Returns whether it did.
     */
    boolean split(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        SpteChange change = change(root, gfn, level, oldSpte, newSpte);
        HookStatus s = HookStatus.BUSY;
        for (int attempt = 0; attempt <= SPLIT_BUSY_RETRIES && s.isBusy(); attempt++)
            s = host.backend().splitExternalSpt(change);
        if (s.isOk())
            return true;
        host.bug(String.format("split_external_spt failed for gfn 0x%x level %d%s: %s", gfn, level,
                s.isBusy() ? " (busy " + (SPLIT_BUSY_RETRIES + 1) + " times)" : "", s));
        return false;
    }

    /**
     * A change of a direct-root entry of a VM whose backend mediates the direct root ({@code externalDirect}),
     * after the core made it (read or write lock): a leaf removed or changed, a huge leaf split (through the split
     * hook), a table replaced by a leaf. Changes the backend cannot see in the decoded form (accessed/dirty bits) and
     * the removal of a table entry (its leaves were reported and its free follows) are not reported. It cannot be
     * undone, so anything but OK bugs the VM.
     */
    void directChanged(long gfn, int level, long oldSpte, long newSpte) {
        SpteChange c = change(RootKind.DIRECT, gfn, level, oldSpte, newSpte);
        if (c.before().equals(c.after()) || c.before().present() && !c.before().leaf() && !c.after().leaf())
            return;
        boolean split = c.isSplit();
        HookStatus s = split ? host.backend().splitExternalSpt(c) : host.backend().setExternalSpte(c);
        if (!s.isOk())
            host.bug(String.format("%s failed for the direct entry at gfn 0x%x level %d: %s",
                    split ? "split_external_spt" : "set_external_spte", gfn, level, s));
    }

    /** {@code free_external_spt} (write lock), after every leaf below was removed. */
    void freeTable(RootKind root, long gfn, int level) {
        HookStatus s = host.backend().freeExternalSpt(root, gfn, level);
        if (!s.isOk())
            host.bug(String.format("free_external_spt failed for the table at gfn 0x%x level %d: %s", gfn, level, s));
    }
}
