package org.tdplab.backend.tdx.kvm;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.backend.tdx.module.ModuleState;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.SnapshotCodec;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * What survives a TDX backend swap, typed: KVM's TDX state of one TD and the TDX module's (TDR/TDCS/TDVPS, S-EPT
 * pages, PAMT chunks: {@link ModuleState}). {@link SnapshotCodec} turns it into plain data and back, refusing
 * a snapshot of another format or {@link #VERSION} with EINVAL naming what differs.
 *
 * @param module the TDX module's state ({@code TdxModule.saveState})
 * @param td the TD: state, HKID, control pages
 * @param vcpus per vCPU: its pages, its kick snapshot and where an accept that made the TD exit stopped
 * @param sept the S-EPT page behind each mirror table, and the spare kept from a busy SEPT.ADD
 * @param counters frames held, pages removed, busy statuses, calls per leaf ({@code Seamcall} order)
 * @param recorded violations seen as they happened, for the checker
 */
public record TdxSnapshot(ModuleState module, Td td, List<Vcpu> vcpus, Sept sept, Counters counters,
        List<String> recorded) {
    /**
     * The format's version; 7: the TD's split cache; 6: each vCPU's Dynamic PAMT cache; 5: the module's PAMT says
     * whether it is dynamic, with its pairs; 4: no call counts (the core keeps them with the VM); 3: the module's
     * state typed too (2 carried it as Java-serialized bytes, 1 was the hand-cast map).
     */
    public static final int VERSION = 7;

    /**
     * {@code kvm_tdx}: state, HKID, the TDR and TDCS pages, the staged PAGE.ADD source, the SEPT-zap wait, the pages
     * of the per-VM split cache (Dynamic PAMT with huge pages).
     */
    public record Td(int state, boolean hkidAssigned, int hkid, long tdrPfn, long[] tdcsPfns, long pageAddSrc,
            long pageAddToken, boolean waitForSeptZap, long[] splitCache) {
    }

    /**
     * One vCPU: TDVPR + TDCX frames (empty: none), its kick snapshot, its accept cursor (unit -1: none), the pages of
     * its Dynamic PAMT cache.
     */
    public record Vcpu(long[] pages, long kickSnapshot, long cursorUnit, int cursorUnitLevel, long cursorGfn,
            int cursorLevel, long cursorRemovals, long[] pamtCache) {
    }

    /** {@code sp->external_spt} by mirror-table key, as parallel arrays, and the spare page (-1: none). */
    public record Sept(long[] keys, long[] pages, long sparePage) {
        public Sept {
            if (keys.length != pages.length)
                throw new MmuException(Errno.EINVAL, "snapshot sept: %d keys but %d pages", keys.length,
                        pages.length);
        }
    }

    /** Counters that survive the swap. */
    public record Counters(long framesHeld, long removals, long busySeen) {
    }

    static TdxSnapshot of(TdxVm vm) {
        long[] splitCache = vm.pamtCaches == null ? new long[0] : vm.pamtCaches.splitCachePages();
        Td td = new Td(vm.state, vm.hkidAssigned, vm.hkid, vm.tdrPfn, vm.tdcsPfns.clone(), vm.pageAddSrc,
                vm.pageAddToken, vm.waitForSeptZap, splitCache);
        List<Vcpu> vcpus = new ArrayList<>();
        for (int v = 0; v < vm.vcpuPages.length; v++)
            vcpus.add(new Vcpu(vm.vcpuPages[v] == null ? new long[0] : vm.vcpuPages[v].clone(), vm.kicks.snapshot[v],
                    vm.cursors.unit(v), vm.cursors.unitLevel(v), vm.cursors.gfn(v), vm.cursors.level(v),
                    vm.cursors.removals(v), vm.pamtCaches == null ? new long[0] : vm.pamtCaches.cache(v).toArray()));
        List<long[]> entries = vm.septPages.entries();
        long[] keys = new long[entries.size()], pages = new long[entries.size()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = entries.get(i)[0];
            pages[i] = entries.get(i)[1];
        }
        return new TdxSnapshot(vm.module.saveState(), td, vcpus, new Sept(keys, pages, vm.sparePage.get()),
                new Counters(vm.frames.held(), vm.removals.sum(), vm.busySeen.sum()),
                List.copyOf(vm.recorded));
    }

    /** The TD this snapshot describes, attached to {@code ctx}; its HKID is reserved again. */
    TdxVm restore(VmContext ctx, TdxOptions options, HkidPool hkids) {
        if (vcpus.size() != ctx.vcpus())
            throw new MmuException(Errno.EINVAL, "TDX snapshot has %d vCPUs where VM '%s' has %d", vcpus.size(),
                    ctx.name(), ctx.vcpus());
        if (td.tdcsPfns().length != org.tdplab.backend.tdx.module.TdxAbi.TDCS_PAGES)
            throw new MmuException(Errno.EINVAL, "TDX snapshot has %d TDCS pages where this module has %d",
                    td.tdcsPfns().length, org.tdplab.backend.tdx.module.TdxAbi.TDCS_PAGES);
        TdxVm vm;
        try {
            vm = new TdxVm(ctx, options, hkids, module);
        } catch (IllegalArgumentException e) {
            throw new MmuException(Errno.EINVAL, "TDX snapshot: %s", e.getMessage());
        }
        vm.state = td.state();
        vm.hkidAssigned = td.hkidAssigned();
        vm.hkid = td.hkid();
        if (vm.hkidAssigned)
            hkids.reserve(vm.hkid);
        vm.tdrPfn = td.tdrPfn();
        System.arraycopy(td.tdcsPfns(), 0, vm.tdcsPfns, 0, vm.tdcsPfns.length);
        vm.pageAddSrc = td.pageAddSrc();
        vm.pageAddToken = td.pageAddToken();
        vm.waitForSeptZap = td.waitForSeptZap();
        if (td.splitCache().length > 0 && vm.pamtCaches == null)
            throw new MmuException(Errno.EINVAL, "TDX snapshot: the TD's split cache holds Dynamic PAMT pages, but "
                    + "the module's PAMT is static");
        for (long p : td.splitCache())
            vm.pamtCaches.addToSplitCache(p);
        for (int v = 0; v < vcpus.size(); v++) {
            Vcpu c = vcpus.get(v);
            vm.vcpuPages[v] = c.pages().length == 0 ? null : c.pages().clone();
            vm.kicks.snapshot[v] = c.kickSnapshot();
            vm.cursors.set(v, c.cursorUnit(), c.cursorUnitLevel(), c.cursorGfn(), c.cursorLevel(), c.cursorRemovals());
            if (c.pamtCache().length > 0 && vm.pamtCaches == null)
                throw new MmuException(Errno.EINVAL, "TDX snapshot: vCPU %d caches Dynamic PAMT pages, but the "
                        + "module's PAMT is static", v);
            for (long p : c.pamtCache())
                vm.pamtCaches.cache(v).add(p);
        }
        for (int i = 0; i < sept.keys().length; i++)
            vm.septPages.put(sept.keys()[i], sept.pages()[i]);
        vm.sparePage.set(sept.sparePage());
        vm.frames.restoreHeld(counters.framesHeld());
        vm.removals.add(counters.removals());
        vm.busySeen.add(counters.busySeen());
        vm.recorded.addAll(recorded);
        return vm;
    }
}
