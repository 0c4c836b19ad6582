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
}
