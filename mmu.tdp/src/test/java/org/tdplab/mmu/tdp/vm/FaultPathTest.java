package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm.FaultResult;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mmu.ErrorCode;

/**
 * {@code kvm_mmu_page_fault} decisions a kernel developer would check: when the fast path may run
 * ({@code page_fault_can_be_fast}), which stats a fault bumps, the level guest_memfd's folios allow, and what the
 * vendor is told before the fault.
 */
class FaultPathTest {
    private static final long WRITE = ErrorCode.WRITE | ErrorCode.USER;

    private static VmCapabilities errorCodePrivate() {
        return VmCapabilities.ordinary("ec", 48).withPrivateMemory(PrivateSource.ERROR_CODE, 3);
    }

    @Test
    void aNotPresentFaultNeverTakesTheFastPathWithAdBits() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x1000, WRITE));
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        // the leaf is write-protected; a write fault that says "not present" must take the slow path
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x1000, WRITE));
        assertEquals(0, vm.stats().get("pf_fast"));
        assertEquals(FaultResult.SPURIOUS, vm.fault(0, 0x1000, WRITE | ErrorCode.PRESENT), "writable again");
        assertEquals(1, vm.stats().get("pf_fast"), "fast_page_fault counts what it found spurious too");
        vm.clearDirtyLog(0, 0, M2);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x1000, WRITE | ErrorCode.PRESENT));
        assertEquals(2, vm.stats().get("pf_fast"), "a present write on a write-protected leaf is fast");
        assertClean(vm);
    }

    @Test
    void aPrivateFaultOnASharedGfnIsNeverFixedByTheFastPath() {
        CoreVm vm = TestVms.create(errorCodePrivate(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x2000, WRITE), "a shared write maps the page writable");
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT); // write-protects it
        // a private access to the shared GFN: its direct leaf would be made writable by the fast path
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x2000, WRITE | ErrorCode.PRESENT
                | ErrorCode.PRIVATE_ACCESS));
        assertEquals(0, vm.stats().get("pf_fast"));
        assertTrue(!vm.lookup(0x2000, RootKind.DIRECT).orElseThrow().writable(), "still write-protected");
    }

    @Test
    void faultsCountAsTheKernelCountsThem() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x3000, WRITE));
        assertEquals(FaultResult.SPURIOUS, vm.fault(0, 0x3000, WRITE | ErrorCode.PRESENT));
        assertEquals(1, vm.stats().get("pf_spurious"));
        assertEquals(2, vm.stats().get("pf_taken"));
        assertEquals(1, vm.stats().get("pf_fixed"));
        assertEquals(FaultResult.MMIO, vm.fault(0, 4 * M2, ErrorCode.USER));
        assertEquals(FaultResult.MMIO, vm.fault(0, 4 * M2, ErrorCode.USER | ErrorCode.RSVD | ErrorCode.PRESENT));
        assertEquals(1, vm.stats().get("pf_emulate"), "the fault that made the MMIO SPTE; the misconfiguration is not");
        assertEquals(3, vm.stats().get("pf_taken"), "a misconfiguration emulated at once is not a page fault");
        var exit = vm.access(0, Access.READ, 4 * M2 + 0x1000, 0x1000, Encoding.CURRENT, 0).exit();
        assertEquals(4 * M2 + 0x1000, exit.gpa());
        exit = vm.access(0, Access.READ, 4 * M2 + 0x1000, 0x1000, Encoding.CURRENT, 0).exit();
        assertEquals(4 * M2 + 0x1000, exit.gpa(), "the exit of an access through the MMIO SPTE names its GPA");
        assertClean(vm);
    }

    @Test
    void guestMemfdFoliosBoundThePrivateMappingLevel() {
        for (PageSize backing : new PageSize[] { PageSize.SIZE_4K, PageSize.SIZE_2M, PageSize.SIZE_1G }) {
            CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
            slot(vm, 0, 0, 1L << 30, backing, SlotFlag.GMEM);
            vm.setMemoryAttributes(0, 1L << 30, true);
            assertEquals(FaultResult.FIXED, vm.fault(0, 0x5000, WRITE));
            assertEquals(backing.level(), vm.lookup(0x5000, RootKind.DIRECT).orElseThrow().level(), backing::toString);
            assertClean(vm);
            vm.destroy();
        }
    }

    @Test
    void theVendorHearsOfItsExitBitsBeforeTheFault() {
        List<String> heard = new ArrayList<>();
        VmCapabilities caps = TestVms.ordinary();
        Backend backend = TestVms.backend(caps, ctx -> {
            return new VmBackend() {
                @Override
                public void violationEntered(int vcpu, long gfn, long errorBits) {
                    heard.add(vcpu + " 0x" + Long.toHexString(gfn) + " 0x" + Long.toHexString(errorBits));
                }
            };
        });
        CoreVm vm = new CoreVm(4343, "v4343", caps.vmType(), 1, caps, TestVms.MEMORY, backend, Map.of(),
                new CopyOnWriteArrayList<>(), v -> {
                });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.fault(0, 0x6000, WRITE);
        assertEquals(List.of(), heard, "no vendor bits: nothing to tell");
        vm.fault(0, 0x7000, WRITE | (1L << 40));
        assertEquals(List.of("0 0x7 0x10000000000"), heard);
    }

    @Test
    void prefaultMapsPrivateRangesThroughGuestMemfdAndRefusesAliases() {
        CoreVm vm = TestVms.create(errorCodePrivate().withPreFaultAllowed(true).withMirroredPt(47), 1);
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertEquals(0, vm.prefault(0, 0, 2 * M2));
        assertEquals(2, vm.stats().get("pages_2m"), "one private 2M page and one shared");
        assertTrue(vm.lookup(0, RootKind.MIRROR).orElseThrow().present(), "the private half through the mirror");
        assertTrue(vm.lookup(M2 | (1L << 47), RootKind.DIRECT).orElseThrow().present(), "the shared half, aliased");
        MmuException e = assertThrows(MmuException.class, () -> vm.prefault(0, 1L << 47, M2));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals("EINVAL: prefault gpa=0x800000000000 is an alias (it has the shared bit)", e.getMessage());
    }
}
