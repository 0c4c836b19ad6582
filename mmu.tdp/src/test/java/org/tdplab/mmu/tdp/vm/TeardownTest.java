package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * {@code kvm_destroy_vm}: every page-table page goes back to the pool, every root is freed, private SPTEs go before
 * the backend releases its key, the backend's teardown runs last, and a destroyed VM refuses ioctls with ENODEV.
 */
class TeardownTest {
    @Test
    void destroyFreesAllTablesOnceAndRefusesLaterIoctls() {
        List<String> calls = new ArrayList<>();
        AtomicInteger pagesAtRelease = new AtomicInteger(-1);
        CoreVm[] holder = new CoreVm[1];
        VmCapabilities caps = TestVms.swProtected();
        Backend backend = TestVms.backend(caps, vm -> {
            return new VmBackend() {
                @Override
                public void releaseKey() {
                    calls.add("releaseKey");
                    pagesAtRelease.set((int) (long) holder[0].mmu.stats.get(org.tdplab.mmu.tdp.mmu.Stat.PAGES_4K));
                }

                @Override
                public void teardown() {
                    calls.add("teardown");
                }
            };
        });
        AtomicInteger forgotten = new AtomicInteger();
        org.tdplab.mmu.tdp.mem.HostMemory memory = new org.tdplab.mmu.tdp.mem.HostMemory();
        long free = memory.framesInUse(org.tdplab.mmu.tdp.mem.HostMemory.FREE);
        CoreVm vm = new CoreVm(4242, "td4242", caps.vmType(), 2, caps, memory, backend, Map.of(),
                new CopyOnWriteArrayList<>(), v -> forgotten.incrementAndGet());
        holder[0] = vm;
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        slot(vm, 1, M2, M2, PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 0x4000, true);
        vm.access(0, Access.WRITE, 0, 0x4000, Encoding.CURRENT, 1);
        vm.access(1, Access.WRITE, M2, 0x2000, Encoding.CURRENT, 2);
        assertEquals(6, vm.stats().get("pages_4k"));
        assertTrue(vm.mmu.pool.liveTables() > 1);

        vm.destroy();
        assertEquals(List.of("releaseKey", "teardown"), calls, "the key goes before the backend's teardown");
        assertEquals(2, pagesAtRelease.get(), "the private pages were zapped before the key was released");
        assertEquals(0, vm.mmu.pool.liveTables(), "page-table pages leaked at teardown");
        assertEquals(0, vm.mmu.rcu.pendingFrees());
        assertEquals(0, vm.mmu.roots.all().length);
        assertEquals(vm.mmu.stats.get(org.tdplab.mmu.tdp.mmu.Stat.ROOTS_ALLOCATED),
                vm.mmu.stats.get(org.tdplab.mmu.tdp.mmu.Stat.ROOTS_FREED));
        assertEquals(0, vm.mmu.stats.get(org.tdplab.mmu.tdp.mmu.Stat.PAGES_4K));
        assertEquals(0, vm.mmu.stats.get(org.tdplab.mmu.tdp.mmu.Stat.TDP_MMU_PAGES));
        assertEquals(1, forgotten.get());
        assertEquals(free, memory.framesInUse(org.tdplab.mmu.tdp.mem.HostMemory.FREE),
                "every frame (memslots, guest_memfd, page tables) went back to the host");
        assertEquals(0, memory.framesInUse(org.tdplab.mmu.tdp.mem.HostMemory.PAGE_TABLE));

        vm.destroy();
        assertEquals(2, calls.size(), "a second destroy does nothing");
        assertEquals(1, forgotten.get());
        MmuException e = assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0, 0x1000, Encoding.CURRENT, 0));
        assertEquals(Errno.ENODEV, e.errno());
    }
}
