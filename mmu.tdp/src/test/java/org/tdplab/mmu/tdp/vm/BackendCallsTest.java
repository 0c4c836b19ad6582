package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * The edges of what a backend asks of the core through its {@link VmContext}: exactly the GFN named is mapped,
 * zapped or split; {@code vcpu->mutex} is released after a call that takes it; firmware calls whose names share a
 * cache slot are still counted apart and traced.
 */
class BackendCallsTest {
    private VmContext ctx;
    private final List<MmuObserver> observers = new CopyOnWriteArrayList<>();

    private CoreVm vm(VmCapabilities caps) {
        return new CoreVm(7002, "calls", caps.vmType(), 1, caps, TestVms.MEMORY, TestVms.backend(caps, c -> {
            ctx = c;
            return new VmBackend() {
            };
        }), Map.of(), observers, v -> {
        });
    }

    private static VmCapabilities attributes() {
        return VmCapabilities.ordinary("sw_protected", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 3);
    }

    private static boolean present(CoreVm vm, long gpa) {
        return vm.lookup(gpa, RootKind.DIRECT).map(s -> s.present()).orElse(false);
    }

    @Test
    void mapPrivateMapsItsOwnGfnAndReleasesTheVcpu() {
        CoreVm vm = vm(VmCapabilities.ordinary("encoded", 48).withPrivateMemory(PrivateSource.ERROR_CODE, 1));
        try {
            TestVms.slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
            ctx.setMemoryAttributes(0, 0x100, true);
            assertTrue(ctx.mapPrivate(0x10));
            assertFalse(vm.vcpus.all[0].mutex.isHeldByCurrentThread(), "vcpu->mutex is released");
            assertTrue(present(vm, 0x10000));
            assertFalse(present(vm, 0), "gfn 0x10, not gpa 0x10");
            assertTrue(ctx.mapPrivate(0x10), "mapped already: a spurious fault is success too");
            assertFalse(ctx.mapPrivate(0x150), "a shared page is not mapped as private (a memory-fault exit)");
            assertFalse(present(vm, 0x150000));
            assertFalse(vm.vcpus.all[0].mutex.isHeldByCurrentThread());
            TestVms.assertClean(vm);
        } finally {
            vm.destroy();
        }
    }

    @Test
    void aNestedWalkReleasesTheVcpuAndWalksTheGfnItNames() {
        CoreVm vm = vm(attributes());
        try {
            TestVms.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
            assertTrue(vm.access(0, Access.WRITE, 0x7000, 0x1000, Encoding.CURRENT, 1).completed());
            assertTrue(org.tdplab.mmu.api.backend.Walk.isTranslated(ctx.nestedWalk(0, 7, false)));
            assertFalse(org.tdplab.mmu.api.backend.Walk.isTranslated(ctx.nestedWalk(0, 8, false)), "not mapped");
            assertFalse(vm.vcpus.all[0].mutex.isHeldByCurrentThread(), "vcpu->mutex is released");
        } finally {
            vm.destroy();
        }
    }

    @Test
    void aZapOfTwoGfnsZapsThoseOnly() {
        CoreVm vm = vm(attributes());
        try {
            TestVms.slot(vm, 0, 0, M2, PageSize.SIZE_4K);
            assertTrue(vm.access(0, Access.WRITE, 0x10000, 0x3000, Encoding.CURRENT, 1).completed());
            ctx.zapGfnRange(0x10, 2);
            assertFalse(present(vm, 0x10000));
            assertFalse(present(vm, 0x11000));
            assertTrue(present(vm, 0x12000), "the next page stays");
            TestVms.assertClean(vm);
        } finally {
            vm.destroy();
        }
    }

    @Test
    void aRangeBeyondTheLastGfnIsRefusedNamingItsSize() {
        CoreVm vm = vm(attributes());
        try {
            long max = ctx.capabilities().maxGfn();
            MmuException e = assertThrows(MmuException.class, () -> ctx.setMemoryAttributes(max - 1, 2, true));
            assertTrue(e.getMessage().contains("npages=0x2"), e.getMessage());
        } finally {
            vm.destroy();
        }
    }

    @Test
    void guestInhibitWorksAtTheLargestHugeLevel() {
        CoreVm vm = vm(attributes());
        try {
            TestVms.slot(vm, 0, 0, 2 * G1, PageSize.SIZE_1G, SlotFlag.GMEM);
            ctx.hugepageSetGuestInhibit(G1 >>> 12, 3);
            assertTrue(ctx.hugepageTestGuestInhibit((G1 >>> 12) + 5, 3));
            assertFalse(ctx.hugepageTestGuestInhibit(5, 3), "the other 1G page");
            ctx.hugepageSetGuestInhibit(5, 4); // no huge pages at level 4
            assertFalse(ctx.hugepageTestGuestInhibit(5, 4));
            assertFalse(ctx.hugepageTestGuestInhibit(5, 3));
        } finally {
            vm.destroy();
        }
    }

    @Test
    void aBuggedVmReportsNoSplitUnderTheWriteLock() {
        CoreVm vm = vm(VmCapabilities.ordinary("mirrored", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 2)
                .withMirroredPt(47));
        try {
            ctx.bug("a test's bug");
            vm.mmu.lock.writeLock();
            try {
                assertFalse(ctx.splitCrossBoundaryLeafs(0x20, 1));
            } finally {
                vm.mmu.lock.writeUnlock();
            }
        } finally {
            vm.destroy();
        }
    }

    @Test
    void firmwareCallsWhoseNamesShareACacheSlotAreCountedApartAndTraced() {
        List<String> traced = new ArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                traced.add(name + " " + Long.toHexString(gfn) + " " + level + " " + status);
            }
        });
        CoreVm vm = vm(attributes());
        try {
            String a = "FW.A", b = null;
            for (int i = 0; b == null; i++)
                if ((("FW.B" + i).hashCode() & 31) == (a.hashCode() & 31))
                    b = ("FW.B" + i).intern();
            ctx.firmwareCall(a, 1, 1, "OK");
            ctx.firmwareCall(b, 2, 2, "BUSY");
            ctx.firmwareCall(a, 3, 1, "OK");
            assertEquals(2L, vm.stats().get(a));
            assertEquals(1L, vm.stats().get(b));
            assertEquals(List.of("FW.A 1 1 OK", b + " 2 2 BUSY", "FW.A 3 1 OK"), traced);
        } finally {
            vm.destroy();
        }
    }

    @Test
    void whatTheContextHandsOut() {
        CoreVm vm = vm(attributes().withNxHugePages(true, 1));
        try {
            long f1 = ctx.allocFirmwareFrame(), f2 = ctx.allocFirmwareFrame();
            assertNotEquals(f1, f2, "two frames");
            ctx.freeFirmwareFrame(f1);
            ctx.freeFirmwareFrame(f2);
            Object pool = ctx.hostState(StringBuilder.class, StringBuilder::new);
            assertSame(pool, ctx.hostState(StringBuilder.class, StringBuilder::new), "one per host and service");
            long gen = ctx.memslotGeneration();
            TestVms.slot(vm, 0, 0, 4 * M2, PageSize.SIZE_2M);
            assertNotEquals(gen, ctx.memslotGeneration(), "a memslot change is a new generation");
            assertTrue(vm.access(0, Access.EXEC, M2, 0x1000, Encoding.CURRENT, 0).completed());
            assertEquals(1, ctx.recoverNxHugePages(), "the table split for NX is recovered");
        } finally {
            vm.destroy();
        }
    }

    @Test
    void theViewACheckGetsSeesAttributesAndGuestMemfdPages() {
        List<String> seen = new CopyOnWriteArrayList<>();
        VmCapabilities caps = attributes();
        CoreVm vm = new CoreVm(7003, "view", caps.vmType(), 1, caps, TestVms.MEMORY, TestVms.backend(caps,
                c -> new VmBackend() {
                    @Override
                    public List<String> check(org.tdplab.mmu.api.backend.MmuView view) {
                        seen.add(view.isPrivate(3) + " " + view.isPrivate(4) + " " + (view.gmemPfnIfPresent(3) >= 0)
                                + " " + view.gmemPfnIfPresent(4));
                        return List.of();
                    }
                }), Map.of(), observers, v -> {
                });
        try {
            TestVms.slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
            vm.setMemoryAttributes(0x3000, 0x1000, true);
            assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 1).completed());
            assertTrue(vm.check().ok());
            assertEquals(List.of("true false true -1"), seen);
        } finally {
            vm.destroy();
        }
    }

    @Test
    void theFirmwareCallNamesOutliveTheVmAndOnlySwappedVmsCarrySwapCounters() {
        CoreVm vm = vm(attributes());
        ctx.firmwareCall("FW.A", 1, 1, "OK");
        assertFalse(vm.stats().containsKey("swap_suspensions"), "never swapped");
        vm.destroy();
        assertTrue(vm.firmwareCalls().contains("FW.A"), vm.firmwareCalls().toString());
        assertEquals(1L, vm.stats().get("FW.A"));
    }
}
