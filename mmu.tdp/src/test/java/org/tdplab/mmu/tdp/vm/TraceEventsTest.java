package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/** Every SPTE change is one {@code kvm_tdp_mmu_spte_changed} event; faults and exits are traced too. */
class TraceEventsTest {
    @Test
    void oneEventPerSpteChangeWithTheKernelsFields() {
        List<String> spte = new ArrayList<>(), faults = new ArrayList<>(), exits = new ArrayList<>();
        List<MmuObserver> observers = new CopyOnWriteArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long old, long now) {
                spte.add(String.format("as %d gfn %x level %d %s->%s", asId, gfn, level,
                        Spte.isShadowPresent(old) ? "present" : "np", Spte.isShadowPresent(now) ? "present" : "np"));
            }

            @Override
            public void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
                faults.add(Long.toHexString(gpa) + " " + result);
            }

            @Override
            public void exit(String vm, int vcpu, Exit exit) {
                exits.add(exit.name() + " " + Long.toHexString(exit.gpa()));
            }
        });
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 1);
        // root level 4: link levels 4, 3, 2 then the 4K leaf
        assertEquals(List.of("as 0 gfn 0 level 4 np->present", "as 0 gfn 0 level 3 np->present",
                "as 0 gfn 0 level 2 np->present", "as 0 gfn 5 level 1 np->present"), spte);
        assertEquals(List.of("5000 FIXED"), faults);
        vm.zapGfnRange(0x5000, 0x1000);
        assertEquals("as 0 gfn 5 level 1 present->np", spte.get(spte.size() - 1));
        vm.access(0, Access.READ, 0x300000, 0x1000, Encoding.CURRENT, 0);
        assertEquals(List.of("mmio 300000"), exits);
        assertTrue(faults.contains("300000 EMULATE") || faults.contains("300000 MMIO"), faults.toString());
    }

    /**
     * A direct root with a shared bit maps its pages at the alias: a fault's changes name the GFN without the bit
     * (the iterator's GFN, {@code fault->gfn}), the root zap's the GFN with it ({@code __tdp_mmu_zap_root} walks
     * every entry with no direct bits).
     */
    @Test
    void theRootZapNamesADirectRootsAliasedEntriesByTheirFullGfn() {
        List<String> spte = new ArrayList<>();
        List<MmuObserver> observers = new CopyOnWriteArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long old, long now) {
                spte.add(String.format("gfn %x level %d %s", gfn, level, Spte.isShadowPresent(now) ? "set" : "zap"));
            }
        });
        CoreVm vm = TestVms.create(VmCapabilities.ordinary("aliased", 48)
                .withPrivateMemory(PrivateSource.SHARED_BIT, 1).withSharedBit(47), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 1L << 47 | 0x5000, 0x1000, Encoding.CURRENT, 1).completed());
        assertEquals(List.of("gfn 0 level 4 set", "gfn 0 level 3 set", "gfn 0 level 2 set", "gfn 5 level 1 set"),
                spte);
        spte.clear();
        vm.destroy();
        assertEquals(List.of("gfn 800000005 level 1 zap", "gfn 800000000 level 2 zap", "gfn 800000000 level 3 zap",
                "gfn 800000000 level 4 zap"), spte);
    }

    /** Aging and the lockless fast page fault change SPTEs outside the lock: each change is still one event. */
    @Test
    void agingAndTheFastPageFaultAreTracedLikeEveryOtherChange() {
        List<long[]> events = new ArrayList<>();
        List<MmuObserver> observers = new CopyOnWriteArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long old, long now) {
                events.add(new long[] { gfn, level, old, now });
            }
        });
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 1);
        events.clear();
        assertEquals(1, vm.age(0x5000, 0x1000));
        assertEquals(1, events.size(), "clear_young: one event");
        long[] aged = events.get(0);
        assertEquals(5, aged[0]);
        assertTrue((aged[2] & Spte.ACCESSED) != 0 && (aged[3] & Spte.ACCESSED) == 0, "A cleared, nothing else");
        assertEquals(aged[2] & ~Spte.ACCESSED, aged[3]);
        assertEquals(0, vm.age(0x5000, 0x1000));
        assertEquals(1, events.size(), "an old page is not aged again");

        vm.setDirtyLogging(0, true, org.tdplab.mmu.api.DirtyLogOptions.DEFAULT);
        events.clear();
        long fast = vm.stats().get("pf_fast");
        vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 2);
        assertEquals(fast + 1, vm.stats().get("pf_fast"));
        assertEquals(1, events.size(), "fast_pf_fix_direct_spte: one event");
        assertTrue(!Spte.isWritable(events.get(0)[2]) && Spte.isWritable(events.get(0)[3]));
        TestVms.assertClean(vm);
    }
}
