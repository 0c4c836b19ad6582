package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.Walk;

/**
 * A violation the backend raises with bits of its own (a reverse-map check, say): the vendor's exit handling runs
 * before KVM's fault handler and its follow-up after it, each once, with those bits only; the guest's access then
 * completes.
 */
class VendorViolationTest {
    private static final long VENDOR_BIT = 1L << 40;

    @Test
    void theBackendHearsItsViolationBeforeAndAfterKvmsFaultHandler() {
        List<String> calls = new CopyOnWriteArrayList<>();
        VmCapabilities caps = VmCapabilities.ordinary("checked", 48);
        boolean[] fired = new boolean[1];
        CoreVm vm = new CoreVm(4245, "checked", "checked", 1, caps, TestVms.MEMORY,
                TestVms.backend(caps, ctx -> new VmBackend() {
                    @Override
                    public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access a) {
                        if (gfn == 7 && !fired[0]) {
                            fired[0] = true;
                            calls.add("violation");
                            return Walk.violation(VENDOR_BIT);
                        }
                        return Walk.translated(pfn, level);
                    }

                    @Override
                    public void violationEntered(int vcpu, long gfn, long errorBits) {
                        calls.add(String.format("entered %d 0x%x 0x%x", vcpu, gfn, errorBits));
                    }

                    @Override
                    public void violationHandled(int vcpu, long gfn, long errorBits) {
                        calls.add(String.format("handled %d 0x%x 0x%x", vcpu, gfn, errorBits));
                    }
                }), Map.of(), new CopyOnWriteArrayList<>(), v -> {
                });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x5000, 0x4000, Encoding.CURRENT, 3).completed());
        assertEquals(List.of("violation", "entered 0 0x7 0x10000000000", "handled 0 0x7 0x10000000000"), calls);
        assertTrue(vm.check().ok(), vm.check().violations()::toString);
        vm.destroy();
    }
}
