package org.tdplab.backend.snp.kvm;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.backend.snp.rmp.RmpEntry;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.MmuView;

/** The invariant checker's rules for one SNP VM (R3, R5, R9), over the host's RMP and the core's view. */
final class Invariants {
    private final Rmp rmp;
    private final int asid;
    private final Launch launch;
    private final SnpHost host;
    private final Anomalies anomalies;

    Invariants(Rmp rmp, int asid, Launch launch, SnpHost host, Anomalies anomalies) {
        this.rmp = rmp;
        this.asid = asid;
        this.launch = launch;
        this.host = host;
        this.anomalies = anomalies;
    }

    /**
     * The RMP's own invariants, then the VM's: a private leaf maps a frame assigned to this ASID at this GPA in an
     * RMP page at least as large as the leaf (R3); a shared leaf maps no assigned frame (R5); every frame of this
     * ASID is the guest_memfd page at its GPA or a VMSA (R9; a page guest_memfd holds locked, a folio being
     * prepared or removed, is judged once it is let go), and no VM of this host left frames assigned at its teardown; and what the
     * kernel would only have warned about.
     */
    List<String> check(MmuView view, boolean tornDown) {
        List<String> out = new ArrayList<>(rmp.check());
        view.forEachLeaf(RootKind.DIRECT, (gfn, level, pfn, r, w, x) -> { // no object per leaf
            if (pfn == view.gmemPfnIfPresent(gfn))
                checkPrivateLeaf(out, gfn, level, pfn);
            else
                checkSharedLeaf(out, gfn, level, pfn);
        });
        if (!tornDown)
            checkOwnedFrames(out, view);
        for (String a : anomalies.lines())
            out.add("snp: " + a);
        for (String leak : host.leaks())
            out.add("snp R9: leaked: " + leak); // host-wide: a VM torn down earlier left frames assigned
        return out;
    }

    private void checkPrivateLeaf(List<String> out, long gfn, int level, long pfn) {
        long a = rmp.authority(pfn), e = rmp.lo(a);
        if (!RmpEntry.assigned(e) || RmpEntry.asid(e) != asid)
            out.add(String.format("%s: the frame is not assigned to ASID %d (%s)", privateLeaf(gfn, level, pfn), asid,
                    RmpEntry.describe(e, rmp.hi(a))));
        else if (rmp.gpaOf(pfn) != gfn << 12)
            out.add(String.format("%s: the RMP assigns it at gpa 0x%x", privateLeaf(gfn, level, pfn), rmp.gpaOf(pfn)));
        else if (level > rmp.privateLevel(pfn))
            out.add(String.format("%s: the RMP page is smaller (%s)", privateLeaf(gfn, level, pfn),
                    rmp.privateLevel(pfn) == 1 ? "4K" : "2M"));
    }

    /** A violation's leaf, named only when there is one (a check visits millions of leaves). */
    private static String privateLeaf(long gfn, int level, long pfn) {
        return String.format("snp R3: private %s leaf gpa 0x%x -> pfn 0x%x", level == 1 ? "4K" : level == 2 ? "2M"
                : "1G", gfn << 12, pfn);
    }

    private void checkSharedLeaf(List<String> out, long gfn, int level, long pfn) {
        long pages = 1L << (9 * (level - 1));
        for (long i = 0; i < pages; i++) {
            if (rmp.isAssigned(pfn + i)) {
                out.add(String.format("snp R5: shared leaf gpa 0x%x -> pfn 0x%x maps a frame assigned to %s",
                        (gfn + i) << 12, pfn + i, SnpVm.owner(rmp, pfn + i)));
                return;
            }
        }
    }

    private void checkOwnedFrames(List<String> out, MmuView view) {
        rmp.forEachAssigned(asid, pfn -> {
            if (launch.isVmsa(pfn))
                return;
            long gfn = rmp.gpaOf(pfn) >>> 12;
            long backing = view.gmemPfnIfPresent(gfn);
            if (backing != pfn && (backing = awaitUnlocked(view, gfn)) != pfn && stillAssigned(pfn, gfn))
                out.add(String.format("snp R9: pfn 0x%x is assigned to ASID %d at gpa 0x%x, whose guest_memfd page "
                        + "is %s", pfn, asid, gfn << 12, backing < 0 ? "absent" : "0x" + Long.toHexString(backing)));
        });
    }

    /**
     * The guest_memfd page at {@code gfn} once guest_memfd lets it go ({@link MmuView#gmemLocked}): a fault's folio
     * is in the file locked from before its preparation's RMPUPDATEs to its publication, and a punch's from its
     * removal from the file to the end of its invalidation ({@code sev_gmem_invalidate}, from {@code free_folio}), so
     * a frame met in either window is judged once the page is published or the frame handed back. Neither holder
     * needs the MMU lock this check holds, and a failed preparation lets the page go, so the wait ends. The page is
     * read once more after the lock is seen free (a huge folio is published before its range is let go). A long wait
     * parks, timed, as the RMP's region locks do: a holder that backs off from a region this check's own scan held
     * parks timed too, and under Fray a check that only yielded kept it parked forever (the timeout never came).
     */
    private static long awaitUnlocked(MmuView view, long gfn) {
        for (int spins = 0; view.gmemLocked(gfn); spins++)
            if (spins < 64)
                Thread.yield();
            else
                LockSupport.parkNanos(view, 20_000);
        return view.gmemPfnIfPresent(gfn);
    }

    /** Whether frame {@code pfn} is still assigned to this ASID at {@code gfn} (a removal hands frames back). */
    private boolean stillAssigned(long pfn, long gfn) {
        return rmp.isAssigned(pfn) && RmpEntry.asid(rmp.lo(rmp.authority(pfn))) == asid && rmp.gpaOf(pfn) == gfn << 12;
    }
}
