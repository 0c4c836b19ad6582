package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;

/** VM operations at their edges: a verb's result, the walk of a GPA, a backend that refuses to attach. */
class VmOperationEdgesTest {
    @Test
    void aVerbsResultReachesItsCallerAndNoResultIsNone() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, List.of(), ctx -> new VmBackend() {
            @Override
            public VerbResult invoke(String verb, VerbArgs args) {
                return verb.equals("count") ? VerbResult.count(7) : null;
            }
        });
        assertEquals(VerbResult.count(7), vm.invoke("count", VerbArgs.none("count")));
        assertEquals(VerbResult.NONE, vm.invoke("nothing", VerbArgs.none("nothing")));
        vm.destroy();
    }

    @Test
    void theWalkOfAMappedGpaGoesFromTheRootToItsLeaf() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 1).completed());
        List<SpteInfo> walk = vm.walk(0x5000, RootKind.DIRECT);
        assertEquals(List.of(4, 3, 2, 1), walk.stream().map(SpteInfo::level).toList());
        assertTrue(walk.get(3).leaf() && walk.get(3).present());
        vm.destroy();
    }

    @Test
    void aBackendThatRefusesToAttachFailsTheCreationAndTheTraceSaysWhy() {
        List<String> failed = new CopyOnWriteArrayList<>();
        List<MmuObserver> observers = new CopyOnWriteArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void vmOperationFailed(String vm, String errno) {
                failed.add(errno);
            }
        });
        MmuException e = assertThrows(MmuException.class, () -> TestVms.create(TestVms.ordinary(), 1, observers,
                ctx -> {
                    throw new MmuException(Errno.ENOSPC, "no key left for a new VM");
                }));
        assertEquals(Errno.ENOSPC, e.errno());
        assertEquals(List.of("ENOSPC"), failed);
    }
}
