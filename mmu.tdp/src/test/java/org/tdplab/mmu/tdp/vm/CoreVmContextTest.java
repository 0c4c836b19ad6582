package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.mem.HostMemory;

/** What a backend does through its {@link VmContext}: each call reaches the core state it names, and only that. */
class CoreVmContextTest {
    private VmContext ctx;

    private CoreVm vm(VmCapabilities caps, int vcpus) {
        CoreVm vm = new CoreVm(7001, "ctx", caps.vmType(), vcpus, caps, TestVms.MEMORY,
                TestVms.backend(caps, c -> {
                    ctx = c;
                    return new VmBackend() {
                    };
                }), Map.of(), new CopyOnWriteArrayList<>(), v -> {
                });
        return vm;
    }

    private static VmCapabilities attributes() {
        return VmCapabilities.ordinary("sw_protected", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 3);
    }

    @Test
    void theVmItDescribesAndFirmwareFramesAndTokens() {
        VmCapabilities caps = attributes();
        CoreVm vm = vm(caps, 3);
        try {
            assertEquals("ctx", ctx.name());
            assertEquals(3, ctx.vcpus());
            assertSame(caps, ctx.capabilities());
            long before = TestVms.MEMORY.framesInUse(HostMemory.FIRMWARE);
            long pfn = ctx.allocFirmwareFrame();
            assertEquals(before + 1, TestVms.MEMORY.framesInUse(HostMemory.FIRMWARE));
            ctx.writeToken(pfn, 0x5eed);
            assertEquals(0x5eed, ctx.readToken(pfn));
            ctx.freeFirmwareFrame(pfn);
            assertEquals(before, TestVms.MEMORY.framesInUse(HostMemory.FIRMWARE));
        } finally {
            vm.destroy();
        }
    }

    @Test
    void dataTheGuestWroteIsWhatTheOracleExpectsAndABackendCanSayItChanged() {
        CoreVm vm = vm(attributes(), 1);
        try {
            TestVms.slot(vm, 0, 0, TestVms.M2, PageSize.SIZE_4K, SlotFlag.GMEM);
            vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 0x77);
            assertEquals(0x77, ctx.sharedToken(3));
            assertTrue(vm.check().ok());
            ctx.guestDataChanged(3, false, 0x88); // e.g. firmware says it rewrote the page
            vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0);
            assertFalse(vm.check().ok(), "the frame still holds 0x77 while the oracle now expects 0x88");
        } finally {
            vm.destroy();
        }
    }

    @Test
    void attributesSetByTheBackendAreCheckedLikeTheIoctl() {
        CoreVm vm = vm(attributes(), 1);
        try {
            long max = ctx.capabilities().maxGfn();
            ctx.setMemoryAttributes(max - 1, 1, true);
            assertTrue(ctx.isPrivate(max - 1));
            for (long[] bad : new long[][] { { -1, 1 }, { 0, 0 }, { max, 1 }, { max - 1, 2 }, { 0, max + 1 } }) {
                MmuException e = assertThrows(MmuException.class, () -> ctx.setMemoryAttributes(bad[0], bad[1], true));
                assertEquals(Errno.EINVAL, e.errno());
            }
            ctx.setMemoryAttributes(0, max, false);
            assertFalse(ctx.isPrivate(max - 1));
        } finally {
            vm.destroy();
        }
    }

    @Test
    void guestInhibitIsPerHugePageOfAMemslot() {
        CoreVm vm = vm(attributes(), 1);
        try {
            TestVms.slot(vm, 0, 0, 2 * TestVms.M2, PageSize.SIZE_2M, SlotFlag.GMEM);
            ctx.hugepageSetGuestInhibit(0x205, 2);
            assertTrue(ctx.hugepageTestGuestInhibit(0x200, 2));
            assertTrue(ctx.hugepageTestGuestInhibit(0x3ff, 2));
            assertFalse(ctx.hugepageTestGuestInhibit(0x1ff, 2));
            assertFalse(ctx.hugepageTestGuestInhibit(0x205, 1), "level 1 is never inhibited");
            ctx.hugepageSetGuestInhibit(0x5, 1); // not a huge level: nothing
            assertFalse(ctx.hugepageTestGuestInhibit(0x5, 2));
            ctx.hugepageSetGuestInhibit(0x100000, 2); // no memslot: nothing
            assertFalse(ctx.hugepageTestGuestInhibit(0x100000, 2));
            vm.access(0, Access.WRITE, 2 * TestVms.M2 - TestVms.M2, 0x1000, Encoding.CURRENT, 1);
            assertEquals(1, vm.lookup(0x200000, RootKind.DIRECT).orElseThrow().level(),
                    "an inhibited 2M range is mapped at 4K");
        } finally {
            vm.destroy();
        }
    }

    @Test
    void mapPrivateZapAndPreFault() {
        CoreVm vm = vm(attributes().withPreFaultAllowed(false), 1);
        try {
            TestVms.slot(vm, 0, 0, TestVms.M2, PageSize.SIZE_2M, SlotFlag.GMEM);
            ctx.setMemoryAttributes(0, 512, true);
            assertTrue(ctx.mapPrivate(0x10));
            assertTrue(vm.lookup(0x10000, RootKind.DIRECT).orElseThrow().present());
            assertNotEquals(-1, ctx.gmemPfn(0x10));
            assertEquals(-1, ctx.gmemPfn(0x100000), "no memslot");
            vm.access(0, Access.WRITE, 0, TestVms.M2, Encoding.CURRENT, 1);
            assertTrue(vm.check().ok(), vm.check().violations().toString());
            ctx.zapGfnRange(0x10, 1);
            assertFalse(vm.lookup(0x10000, RootKind.DIRECT).orElseThrow().present());
            assertFalse(vm.lookup(0x11000, RootKind.DIRECT).orElseThrow().present(),
                    "the 2M leaf over the range goes whole, as kvm_zap_gfn_range zaps every leaf it overlaps");
            TestVms.slot(vm, 1, TestVms.M2, TestVms.M2, PageSize.SIZE_4K);
            MmuException refused = assertThrows(MmuException.class, () -> vm.prefault(0, TestVms.M2, 0x1000));
            assertEquals(Errno.ENOTSUP, refused.errno());
            ctx.allowPreFault();
            vm.prefault(0, TestVms.M2, 0x1000);
            assertTrue(vm.lookup(TestVms.M2, RootKind.DIRECT).orElseThrow().present(), "pre-faulted once allowed");
            ctx.kickAllVcpus(); // no vCPU in guest mode: returns at once
            assertFalse(ctx.bugged());
            ctx.bug("backend found a bug");
            assertTrue(ctx.bugged());
            assertFalse(ctx.mapPrivate(0x30), "a bugged VM maps nothing");
        } finally {
            vm.destroy();
        }
    }

    /**
     * {@code kvm_split_cross_boundary_leafs} from a backend: with no MMU lock it takes the write lock itself, under
     * the write lock it splits in place, under the read lock it cannot (the kernel would deadlock): the VM is bugged.
     */
    @Test
    void splittingCrossBoundaryLeafsDependsOnTheLockTheHookHolds() {
        CoreVm vm = vm(VmCapabilities.ordinary("mirrored", 48).withPrivateMemory(PrivateSource.ATTRIBUTES, 2)
                .withMirroredPt(47), 1);
        try {
            TestVms.slot(vm, 0, 0, TestVms.M2, PageSize.SIZE_2M, SlotFlag.GMEM);
            assertTrue(ctx.splitCrossBoundaryLeafs(0x10, 1), "no lock held: nothing to split, done");
            assertFalse(vm.mmu.lock.isWriteLockedByMe(), "the lock it took is dropped");
            vm.mmu.lock.writeLock();
            try {
                assertTrue(ctx.splitCrossBoundaryLeafs(0x10, 1));
                assertTrue(vm.mmu.lock.isWriteLockedByMe(), "the caller's write lock is still held");
            } finally {
                vm.mmu.lock.writeUnlock();
            }
            assertFalse(ctx.bugged());
            vm.mmu.lock.readLock();
            try {
                assertFalse(ctx.splitCrossBoundaryLeafs(0x10, 1));
            } finally {
                vm.mmu.lock.readUnlock();
            }
            assertTrue(ctx.bugged());
            assertFalse(ctx.splitCrossBoundaryLeafs(0x10, 1), "a bugged VM reports no split");
        } finally {
            vm.destroy();
        }
    }

    @Test
    void firmwareCallsAreCountedAndPricedByTheTableOfTheirTime() {
        CoreVm vm = vm(attributes(), 1);
        try {
            ctx.firmwareCall("FW.A", 1, 1, "OK");
            assertEquals(1L, vm.stats().get("FW.A"));
            assertEquals(0L, vm.stats().get("projected_firmware_ns"), "no table: counted, not priced");
            ctx.firmwareLatency(FirmwareLatency.parse("FW.A=300", "*=20"));
            ctx.firmwareCall("FW.A", 1, 1, "OK");
            ctx.firmwareCall("FW.B", 1, 1, "OK");
            assertEquals(2L, vm.stats().get("FW.A"));
            assertEquals(1L, vm.stats().get("FW.B"));
            assertEquals(320L, vm.stats().get("projected_firmware_ns"));
            assertTrue(vm.firmwareCalls().contains("FW.B"));
        } finally {
            vm.destroy();
        }
    }
}
