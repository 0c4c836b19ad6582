package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * A protected-VM backend of a kind the repository has no bundle for, written against {@code mmu.api} only (its test
 * hands it two probes of the MMU lock, to assert the hooks' lock context): a hypervisor owns the real
 * stage-2 of both halves, built from the hooks of both roots; memory is private by default and the guest shares by
 * hypercall (the {@code share} / {@code unshare} verbs, through {@link VmContext#setMemoryAttributes}), in place;
 * there is no shared GPA bit. The hypervisor tracks which frames the guest owns and refuses the host any access to
 * them; it refuses attribute changes of pages it locked; it raises its own guest exception on poisoned pages.
 * {@link #check} compares its stage-2 with the core's roots entry by entry; {@link #problems} holds what a hook saw
 * out of order. One root per kind (no fast zap in its tests).
 */
final class ProtectedHypervisor implements VmBackend {
    /** The hypervisor's abort, raised into the guest for a poisoned page. */
    static final int ABORT_VECTOR = 250;
    static final String ABORT_NAME = "HYP_ABORT";

    static VmCapabilities capabilities(String type, int gpaw) {
        return VmCapabilities.ordinary(type, gpaw).withPrivateMemory(PrivateSource.ATTRIBUTES, 2).withMirroredPt()
                .withExternalDirect().withSharedInPlace().withProtectedState();
    }

    /** One leaf of the hypervisor's stage-2. */
    private record Leaf(int level, long pfn, boolean writable) {
        long pages() {
            return 1L << (9 * (level - 1));
        }
    }

    final List<String> events = Collections.synchronizedList(new ArrayList<>());
    final List<String> problems = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger privateWalks = new AtomicInteger();
    /** Probes of the MMU lock the test sets: held in any mode, held for write. */
    volatile BooleanSupplier lockHeld = () -> true, writeLockHeld = () -> true;
    private VmContext ctx;
    private final Map<RootKind, Map<Long, Leaf>> stage2 = Map.of(RootKind.MIRROR, new ConcurrentHashMap<>(),
            RootKind.DIRECT, new ConcurrentHashMap<>());
    private final Map<RootKind, Set<Long>> tables = Map.of(RootKind.MIRROR, ConcurrentHashMap.newKeySet(),
            RootKind.DIRECT, ConcurrentHashMap.newKeySet());
    /** GFNs the guest shared (everything else is private). */
    private final Set<Long> shared = ConcurrentHashMap.newKeySet();
    /** Frames the guest owns (donated through a private mapping), with their GFN, until reclaimed. */
    private final Map<Long, Long> guestOwned = new ConcurrentHashMap<>();
    private final Set<Long> locked = ConcurrentHashMap.newKeySet();
    private final Set<Long> poisoned = ConcurrentHashMap.newKeySet();
    /** Frames the hypervisor keeps for the guest even when guest_memfd gives them back (pinned by a hypercall). */
    private final Set<Long> pinned = ConcurrentHashMap.newKeySet();

    void attach(VmContext vm) {
        this.ctx = vm;
    }

    int leaves(RootKind root) {
        return stage2.get(root).size();
    }

    int tables(RootKind root) {
        return tables.get(root).size();
    }

    private static long tableKey(long gfn, int level) {
        return gfn << 3 | level;
    }

    private static String hex(long v) {
        return Long.toHexString(v);
    }

    private void expectLock() {
        if (!lockHeld.getAsBoolean())
            problems.add("a stage-2 hook ran without the MMU lock");
    }

    // ---- the stage-2 -----------------------------------------------------------------------------------------

    @Override
    public HookStatus setExternalSpte(SpteChange c) {
        expectLock();
        RootKind root = c.root();
        Map<Long, Leaf> s2 = stage2.get(root);
        if (c.before().leaf() && s2.remove(c.gfn()) == null)
            problems.add(String.format("%s: removal of gfn 0x%x level %d the hypervisor never mapped", root, c.gfn(),
                    c.level()));
        if (c.after().present() && !c.after().leaf()) {
            tables.get(root).add(tableKey(c.gfn(), c.level() - 1));
            events.add("link " + root + " " + hex(c.gfn()) + " L" + c.level());
            return HookStatus.OK;
        }
        if (c.after().leaf()) {
            donateOrShare(root, c.gfn(), c.level(), c.after().pfn());
            s2.put(c.gfn(), new Leaf(c.level(), c.after().pfn(), c.after().writable()));
        }
        String what = c.isInstall() ? "install" : c.isLeafRemoval() ? "remove" : "change";
        events.add(what + " " + root + " " + hex(c.gfn()) + " L" + c.level());
        return HookStatus.OK;
    }

    /** A private mapping donates its frames to the guest; a shared one must cover shared GFNs only. */
    private void donateOrShare(RootKind root, long gfn, int level, long pfn) {
        long pages = 1L << (9 * (level - 1));
        for (long i = 0; i < pages; i++) {
            boolean isShared = shared.contains(gfn + i);
            if (root == RootKind.MIRROR && isShared || root == RootKind.DIRECT && !isShared)
                problems.add(String.format("%s maps gfn 0x%x, which the guest has %s", root, gfn + i,
                        isShared ? "shared" : "not shared"));
            if (root == RootKind.MIRROR)
                guestOwned.put(pfn + i, gfn + i);
        }
    }

    @Override
    public HookStatus splitExternalSpt(SpteChange c) {
        expectLock();
        Map<Long, Leaf> s2 = stage2.get(c.root());
        Leaf huge = s2.remove(c.gfn());
        if (huge == null || huge.level() != c.level()) {
            problems.add(String.format("%s: split of gfn 0x%x level %d the hypervisor does not hold", c.root(),
                    c.gfn(), c.level()));
            return HookStatus.error(Errno.EINVAL, "no huge leaf at gfn 0x%x", c.gfn());
        }
        long step = huge.pages() / 512;
        for (int i = 0; i < 512; i++)
            s2.put(c.gfn() + i * step, new Leaf(c.level() - 1, huge.pfn() + i * step, huge.writable()));
        tables.get(c.root()).add(tableKey(c.gfn(), c.level() - 1));
        events.add("split " + c.root() + " " + hex(c.gfn()) + " L" + c.level());
        return HookStatus.OK;
    }

    @Override
    public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
        if (!tables.get(root).remove(tableKey(gfn, level)))
            problems.add(String.format("%s: free of a table at gfn 0x%x level %d never linked", root, gfn, level));
        long span = 1L << (9 * level);
        for (long g : stage2.get(root).keySet())
            if (g >= gfn && g < gfn + span)
                problems.add(String.format("%s: table at gfn 0x%x freed while it still maps gfn 0x%x", root, gfn, g));
        return HookStatus.OK;
    }

    /** The leaf of {@code root}'s stage-2 covering {@code gfn}: its first GFN, or -1. */
    private long covering(RootKind root, long gfn) {
        Map<Long, Leaf> s2 = stage2.get(root);
        for (int level = 1; level <= 3; level++) {
            long base = gfn & -(1L << (9 * (level - 1)));
            Leaf l = s2.get(base);
            if (l != null && l.level() == level)
                return base;
        }
        return -1;
    }

    /** The hardware walks the hypervisor's stage-2 for private GPAs. */
    @Override
    public long translatePrivate(int vcpu, long gfn, Access access) {
        privateWalks.incrementAndGet();
        long base = covering(RootKind.MIRROR, gfn);
        if (base < 0)
            return Walk.violation(0);
        Leaf l = stage2.get(RootKind.MIRROR).get(base);
        if (l == null || access == Access.WRITE && !l.writable())
            return Walk.violation(0);
        return Walk.translated(l.pfn() + (gfn - base), l.level());
    }

    /** Shared GPAs: the core walked its direct root; the hypervisor's copy must give the same frame. */
    @Override
    public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
        if (poisoned.contains(gfn))
            return Walk.exception(ABORT_VECTOR);
        if (!isPrivate) {
            long base = covering(RootKind.DIRECT, gfn);
            Leaf l = base < 0 ? null : stage2.get(RootKind.DIRECT).get(base);
            if (l == null || l.pfn() + (gfn - base) != pfn) {
                problems.add(String.format("shared gfn 0x%x: the core walked to pfn 0x%x, the hypervisor has %s", gfn,
                        pfn, l == null ? "nothing" : "pfn 0x" + hex(l.pfn() + (gfn - base))));
                return Walk.fatal();
            }
        }
        return Walk.translated(pfn, level);
    }

    /** The exception this hypervisor raises, as its {@code Backend.exceptions()} names it. */
    static Map<Integer, String> exceptions() {
        return Map.of(ABORT_VECTOR, ABORT_NAME);
    }

    // ---- memory ownership --------------------------------------------------------------------------------------

    @Override
    public HookStatus preSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
        if (!writeLockHeld.getAsBoolean())
            problems.add("pre_set_memory_attributes without the write lock");
        for (long g = gfn; g < gfn + npages; g++)
            if (locked.contains(g))
                return HookStatus.error(Errno.EPERM, "gfn 0x%x is locked by the hypervisor", g);
        events.add("pre " + hex(gfn) + "+" + hex(npages) + (toPrivate ? " private" : " shared"));
        return HookStatus.OK;
    }

    @Override
    public void postSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
        for (long g = gfn; g < gfn + npages; g++)
            if (toPrivate)
                shared.remove(g);
            else
                shared.add(g);
        events.add("post " + hex(gfn) + "+" + hex(npages) + (toPrivate ? " private" : " shared"));
    }

    /** guest_memfd gives pages back: the hypervisor reclaims them from the guest, unless still mapped. */
    @Override
    public void gmemInvalidate(long pfn, int order) {
        for (long p = pfn; p < pfn + (1L << order); p++) {
            Long gfn = guestOwned.get(p);
            if (gfn != null && covering(RootKind.MIRROR, gfn) >= 0)
                problems.add(String.format("reclaim of pfn 0x%x still mapped at gfn 0x%x", p, gfn));
            if (!pinned.contains(p))
                guestOwned.remove(p);
        }
        if (order == 0)
            events.add("reclaim " + hex(pfn));
    }

    @Override
    public void hostAccess(long pfn, boolean write) {
        Long gfn = guestOwned.get(pfn);
        if (gfn != null && !shared.contains(gfn))
            throw new MmuException(Errno.EPERM, "host %s of pfn 0x%x: the page belongs to the guest at gfn 0x%x",
                    write ? "write" : "read", pfn, gfn);
        events.add("host " + (write ? "write " : "read ") + hex(pfn));
    }

    // ---- hypercalls, as verbs ----------------------------------------------------------------------------------

    @Override
    public VerbResult invoke(String verb, VerbArgs args) {
        long gfn = args.number("gpa") >>> 12;
        switch (verb) {
        case "share" -> ctx.setMemoryAttributes(gfn, args.number("size") >>> 12, false);
        case "unshare" -> ctx.setMemoryAttributes(gfn, args.number("size") >>> 12, true);
        case "lock" -> locked.add(gfn);
        case "poison" -> poisoned.add(gfn);
        case "pin" -> pinned.add(ctx.gmemPfn(gfn));
        default -> throw new MmuException(Errno.ENOTSUP, "no hypercall '%s'", verb);
        }
        return VerbResult.NONE;
    }

    /** The hypervisor's stage-2 equals the core's roots, leaf for leaf; and what the hooks saw out of order. */
    @Override
    public List<String> check(MmuView view) {
        List<String> out = new ArrayList<>(problems);
        for (RootKind root : RootKind.values()) {
            Map<Long, Leaf> s2 = stage2.get(root);
            long[] seen = { 0 };
            view.forEachLeaf(root, (gfn, level, leaf) -> {
                long pfn = leaf.pfn();
                seen[0]++;
                Leaf l = s2.get(gfn);
                if (l == null || l.level() != level || l.pfn() != pfn || l.writable() != leaf.writable())
                    out.add(String.format("hyp: %s leaf gfn 0x%x level %d pfn 0x%x %s is %s in the stage-2", root,
                            gfn, level, pfn, leaf.writable() ? "rw" : "ro", l == null ? "missing" : l.toString()));
            });
            if (seen[0] != s2.size())
                out.add(String.format("hyp: %s stage-2 holds %d leaves, the core's root %d", root, s2.size(),
                        seen[0]));
        }
        return out;
    }
}
