package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * A kind of confidential VM this repository has no backend for, written against {@code mmu.api} alone
 * ({@link ProtectedHypervisor}): a hypervisor owns the real stage-2 of both halves, memory is private by default,
 * the guest shares by hypercall and in place, and there is no shared GPA bit. It runs faults, accesses,
 * share/unshare, zaps, punches and teardown with the invariant checker and the hypervisor's own checks passing.
 */
class ProtectedVmSeamTest {
    private static final String PREFIX = "protected-test";

    private static CoreVm create(ProtectedHypervisor hyp) {
        VmCapabilities caps = ProtectedHypervisor.capabilities(PREFIX, 48);
        Backend backend = new Backend() {
            @Override
            public String vmType() {
                return PREFIX;
            }

            @Override
            public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
                return ProtectedHypervisor.capabilities(PREFIX, gpaw);
            }

            @Override
            public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
                hyp.attach(vm);
                return hyp;
            }

            @Override
            public Map<Integer, String> exceptions() {
                return ProtectedHypervisor.exceptions();
            }
        };
        CoreVm vm = new CoreVm(88, "pvm", PREFIX, 2, caps, TestVms.MEMORY, backend, Map.of(),
                new CopyOnWriteArrayList<>(), v -> {
                });
        hyp.lockHeld = () -> vm.mmu.lock.isReadLockedByMe() || vm.mmu.lock.isWriteLockedByMe();
        hyp.writeLockHeld = vm.mmu.lock::isWriteLockedByMe;
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        // private by default: the VMM makes all of guest memory private before the guest runs
        vm.setMemoryAttributes(0, 2 * M2, true);
        return vm;
    }

    private static void share(CoreVm vm, long gpa, long size) {
        vm.invoke("share", VerbArgs.none("share").with("gpa", gpa).with("size", size));
    }

    private static void unshare(CoreVm vm, long gpa, long size) {
        vm.invoke("unshare", VerbArgs.none("unshare").with("gpa", gpa).with("size", size));
    }

    @Test
    void capabilitiesAreIndependentFactsWithoutASharedBit() {
        VmCapabilities caps = ProtectedHypervisor.capabilities(PREFIX, 48);
        assertTrue(caps.mirroredPt() && caps.externalDirect() && caps.sharedInPlace());
        assertEquals(-1, caps.sharedBit());
        assertEquals(0, caps.gfnDirectBits());
        assertEquals(1L << 36, caps.maxGfn(), "no GPA bit is lost to a shared bit");
        // the easy path of a VM with both facts still sets both
        VmCapabilities both = VmCapabilities.ordinary("x", 48).withMirroredPt(47);
        assertTrue(both.mirroredPt());
        assertEquals(47, both.sharedBit());
        assertEquals(-1, VmCapabilities.ordinary("x", 48).withMirroredPt().sharedBit());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> VmCapabilities.ordinary("x", 48).withSharedInPlace()).errno(), "in place needs private memory");
    }

    @Test
    void privateFaultsGoThroughTheMirrorAndTheHardwareWalksTheHypervisorsStage2() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 5).completed());
        assertTrue(vm.lookup(0x3000, RootKind.MIRROR).orElseThrow().present());
        assertFalse(vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().present());
        assertTrue(hyp.events.contains("install MIRROR 0 L2"), "a 2M private leaf: " + hyp.events);
        int walks = hyp.privateWalks.get();
        assertEquals(5, vm.access(1, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        assertTrue(hyp.privateWalks.get() > walks, "vCPU 1's walk went through the hypervisor's table");
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.SHARED, 0)).errno(),
                "privateness comes from attributes alone");
        assertClean(vm);
    }

    @Test
    void sharingByHypercallKeepsThePageAndItsDataAndTheDirectRootReachesTheHooks() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 0x55);
        long pfn = vm.lookup(0x5000, RootKind.MIRROR).orElseThrow().pfn() + 5; // the page in its 2M leaf
        hyp.events.clear();
        share(vm, 0x5000, 0x1000);
        assertEquals(List.of("pre 5+1 shared", "split MIRROR 0 L2", "remove MIRROR 5 L1", "post 5+1 shared"),
                hyp.events, "the 2M leaf is split in the hypervisor's stage-2 first, then the page leaves it");
        assertFalse(vm.context().isPrivate(5));
        hyp.events.clear();
        assertEquals(0x55, vm.access(1, Access.READ, 0x5000, 0x1000, Encoding.CURRENT, 0).value(),
                "shared in place: the data stays");
        assertEquals(pfn, vm.lookup(0x5000, RootKind.DIRECT).orElseThrow().pfn(), "the same page, now shared");
        assertTrue(hyp.events.contains("install DIRECT 5 L1"), hyp.events.toString());
        vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 0x66);
        assertClean(vm);

        hyp.events.clear();
        unshare(vm, 0x5000, 0x1000);
        assertEquals(List.of("pre 5+1 private", "remove DIRECT 5 L1", "post 5+1 private"), hyp.events);
        assertEquals(0x66, vm.access(0, Access.READ, 0x5000, 0x1000, Encoding.CURRENT, 0).value());
        assertEquals(pfn, vm.lookup(0x5000, RootKind.MIRROR).orElseThrow().pfn());
        assertClean(vm);
    }

    @Test
    void theGuestsOwnConversionSharesInPlaceToo() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        vm.access(0, Access.WRITE, 0x8000, 0x2000, Encoding.CURRENT, 0x77);
        assertTrue(vm.convert(0, false, 0x8000, 0x2000).completed());
        assertEquals(0x77, vm.access(1, Access.READ, 0x8000, 0x2000, Encoding.CURRENT, 0).value());
        assertTrue(vm.convert(1, true, 0x8000, 0x2000).completed());
        assertEquals(0x77, vm.access(0, Access.READ, 0x8000, 0x2000, Encoding.CURRENT, 0).value());
        assertClean(vm);
    }

    @Test
    void aRefusedAttributeChangeFailsTheIoctlWithTheHooksErrnoAndChangesNothing() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        vm.access(0, Access.WRITE, 0x2000, 0x1000, Encoding.CURRENT, 1);
        vm.invoke("lock", VerbArgs.none("lock").with("gpa", 8192L));
        MmuException e = assertThrows(MmuException.class, () -> vm.setMemoryAttributes(0, 0x4000, false));
        assertEquals(Errno.EPERM, e.errno());
        assertTrue(e.getMessage().contains("gfn 0x2 is locked by the hypervisor"), e.getMessage());
        assertTrue(vm.context().isPrivate(2) && vm.context().isPrivate(0), "no attribute changed");
        assertTrue(vm.lookup(0x2000, RootKind.MIRROR).orElseThrow().present(), "nothing was zapped");
        assertEquals(Errno.EPERM, assertThrows(MmuException.class, () -> share(vm, 0x2000, 0x1000)).errno(),
                "the backend's own change is refused the same way");
        assertFalse(vm.bugged());
        assertClean(vm);
    }

    @Test
    void aGpaWithTheTopBitIsAnOrdinaryGpaWithoutASlotAnMmioExit() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        long top = (1L << 47) | 0x1000;
        AccessResult r = vm.access(0, Access.READ, top, 0x1000, Encoding.CURRENT, 0);
        assertEquals(Exit.Reason.MMIO, r.exit().reason(), r.toString());
        assertEquals(top, r.exit().gpa(), "not an alias of gpa 0x1000");
        assertFalse(vm.lookup(0x1000, RootKind.DIRECT).orElseThrow().present());
        assertClean(vm);
    }

    @Test
    void theBackendNamesItsOwnGuestException() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        vm.invoke("poison", VerbArgs.none("poison").with("gpa", 12288L));
        AccessResult r = vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0);
        assertEquals(ProtectedHypervisor.ABORT_NAME, r.exception());
        assertTrue(vm.access(0, Access.READ, 0x4000, 0x1000, Encoding.CURRENT, 0).completed());
        assertClean(vm);
    }

    @Test
    void zapsReachBothRootsAndPartialPunchesGiveThePagesBackBeforeTheHostClearsThem() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        // a whole 2M private leaf over a 2M folio, and a shared page in the second 2M
        assertTrue(vm.access(0, Access.WRITE, 0, M2, Encoding.CURRENT, 3).completed());
        assertEquals(2, vm.lookup(0, RootKind.MIRROR).orElseThrow().level());
        share(vm, M2, 0x1000);
        vm.access(1, Access.WRITE, M2, 0x1000, Encoding.CURRENT, 4);
        long pfn = vm.lookup(0, RootKind.MIRROR).orElseThrow().pfn();
        assertEquals(Errno.EPERM, assertThrows(MmuException.class, () -> hyp.hostAccess(pfn + 3, true)).errno(),
                "the host may not touch a page the guest owns");

        hyp.events.clear();
        vm.zapGfnRange(M2, 0x1000);
        assertEquals(List.of("remove DIRECT 200 L1"), hyp.events);

        hyp.events.clear();
        vm.punchHole(0x3000, 0x1000); // a partial punch of the 2M folio: the page is zapped, reclaimed, cleared
        assertEquals(List.of("split MIRROR 0 L2", "remove MIRROR 3 L1", "reclaim " + Long.toHexString(pfn + 3),
                "host write " + Long.toHexString(pfn + 3)), hyp.events);
        assertEquals(3, vm.access(0, Access.READ, 0x4000, 0x1000, Encoding.CURRENT, 0).value());
        assertEquals(0, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value(), "punched: zero");
        assertFalse(vm.bugged());
        assertClean(vm);
    }

    @Test
    void aHostAccessTheBackendRefusesFailsThePunchAndTheVmGoesOn() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        assertTrue(vm.access(0, Access.WRITE, 0, M2, Encoding.CURRENT, 3).completed());
        vm.invoke("pin", VerbArgs.none("pin").with("gpa", 12288L)); // the hypervisor keeps gfn 3's frame for the guest
        MmuException e = assertThrows(MmuException.class, () -> vm.punchHole(0x3000, 0x1000));
        assertEquals(Errno.EPERM, e.errno());
        assertTrue(e.getMessage().contains("the page belongs to the guest at gfn 0x3"), e.getMessage());
        assertEquals(3, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value(),
                "the host did not clear it; the invalidation ended, so the guest faults it back in");
        assertFalse(vm.bugged());
        assertClean(vm);
    }

    @Test
    void teardownEmptiesTheHypervisorsTablesOfBothRoots() {
        ProtectedHypervisor hyp = new ProtectedHypervisor();
        CoreVm vm = create(hyp);
        vm.access(0, Access.WRITE, 0, 0x3000, Encoding.CURRENT, 1);
        share(vm, M2, 0x1000);
        vm.access(1, Access.WRITE, M2, 0x1000, Encoding.CURRENT, 2);
        assertClean(vm);
        assertTrue(hyp.tables(RootKind.DIRECT) > 0 && hyp.tables(RootKind.MIRROR) > 0);
        vm.destroy();
        assertFalse(vm.bugged());
        assertEquals(0, hyp.leaves(RootKind.MIRROR) + hyp.leaves(RootKind.DIRECT));
        assertEquals(0, hyp.tables(RootKind.MIRROR) + hyp.tables(RootKind.DIRECT), "every table freed");
        assertTrue(hyp.problems.isEmpty(), hyp.problems.toString());
    }
}
