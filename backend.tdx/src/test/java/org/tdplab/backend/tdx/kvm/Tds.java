package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.vm.Standalone;

/** TDs on a real core: a TDX backend that remembers the {@link TdxVm} of each VM, and firmware-call recording. */
final class Tds {
    static final long K4 = 4096, M1 = 1L << 20, M2 = 2L << 20;

    final Map<String, TdxVm> tdx = new ConcurrentHashMap<>();
    /** Every firmware call, in order (a synchronized list: a copy-on-write one costs a copy per SEAMCALL). */
    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    final VmManager manager;

    Tds() {
        manager = Standalone.vmManager(new TdxBackend() {
            @Override
            public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
                TdxVm t = (TdxVm) super.attach(vm, options);
                tdx.put(vm.name(), t);
                return t;
            }
        });
        manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String vm, String name, long gfn, int level, String status) {
                calls.add(vm + " " + name + " " + status);
            }
        });
    }

    Vm create(String name, int vcpus, int gpaw, Map<String, String> options) {
        return manager.create(name, "tdx", vcpus, gpaw, options);
    }

    TdxVm tdx(Vm vm) {
        return tdx.get(vm.name());
    }

    /** A TD with an 8M guest_memfd slot at {@code base}, its first 4M private. */
    Vm td(String name, int vcpus, int gpaw, long base, Map<String, String> options) {
        Vm vm = create(name, vcpus, gpaw, options);
        vm.addMemslot(0, base, 8 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        return vm;
    }

    /**
     * A finalized TD of {@code manager}: an 8M guest_memfd slot of {@code backing} folios at 0, its first
     * {@code privateBytes} private.
     */
    static Vm finalizedTd(VmManager manager, String name, int vcpus, Map<String, String> options, PageSize backing,
            long privateBytes) {
        Vm vm = manager.create(name, "tdx", vcpus, 48, options);
        vm.addMemslot(0, 0, 8 * M1, Set.of(SlotFlag.GMEM), backing);
        vm.setMemoryAttributes(0, privateBytes, true);
        vm.invoke("finalize", org.tdplab.mmu.api.backend.VerbArgs.none("finalize"));
        return vm;
    }

    static long stat(Vm vm, String name) {
        return vm.stats().getOrDefault(name, 0L);
    }

    static void assertClean(Vm vm) {
        CheckReport r = vm.check();
        assertTrue(r.ok(), () -> String.join("\n", r.violations()));
    }

    static void assertDone(AccessResult r) {
        assertTrue(r.completed(), () -> "access ended with " + r);
    }

    static void assertRead(Vm vm, int vcpu, long gpa, long expected) {
        AccessResult r = vm.access(vcpu, org.tdplab.mmu.api.Access.READ, gpa, K4, org.tdplab.mmu.api.Encoding.CURRENT,
                0);
        assertDone(r);
        assertEquals(expected, r.value(), () -> String.format("read of gpa 0x%x", gpa));
    }
}
