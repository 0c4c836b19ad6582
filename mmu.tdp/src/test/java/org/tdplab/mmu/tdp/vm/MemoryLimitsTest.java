package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.mem.HostMemory;

/** What the limits answer: host memory grows with need up to its limit, then ENOMEM; an exhausted heap is ENOMEM. */
class MemoryLimitsTest {
    private static VmManagerComponent core(Backend b) {
        VmManagerComponent core = new VmManagerComponent();
        core.bindStandalone(b, 1);
        return core;
    }

    private static final class Plain implements Backend {
        final VmBackend vm;

        Plain(VmBackend vm) {
            this.vm = vm;
        }

        @Override
        public String vmType() {
            return "t";
        }

        @Override
        public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
            return VmCapabilities.ordinary("t", gpaw);
        }

        @Override
        public VmBackend attach(VmContext context, org.tdplab.mmu.api.backend.VerbArgs options) {
            return vm;
        }
    }

    @Test
    void aGuestLargerThanTheStartingHostMemoryWorksOutOfTheBox() {
        Vm vm = core(new Plain(new VmBackend() {
        })).create("big", "t", 1, 48, Map.of());
        long gib = 1L << 30;
        vm.addMemslot(0, 0, 128 * gib, Set.of(), PageSize.SIZE_4K);
        // a page in every gigabyte: 128 GiB of host memory and page tables beyond the 64 GiB it started with
        for (long g = 0; g < 128; g++) {
            AccessResult r = vm.access(0, Access.WRITE, g * gib + (g << 12), 4096, Encoding.CURRENT, g + 1);
            assertTrue(r.completed(), r.toString());
        }
        for (long g = 0; g < 128; g++)
            assertEquals(g + 1, vm.access(0, Access.READ, g * gib + (g << 12), 4096, Encoding.CURRENT, 0).value());
        assertTrue(vm.check().violations().isEmpty(), vm.check().violations().toString());
        vm.destroy();
    }

    @Test
    void pastTheLimitAnAllocationFailsWithEnomemNamingIt() {
        HostMemory mem = new HostMemory(1L << 30, 2L << 30);
        mem.alloc(3, HostMemory.SHARED, 1);
        mem.alloc(3, HostMemory.SHARED, 1); // grown once, to the limit
        MmuException e = assertThrows(MmuException.class, () -> mem.alloc(1, HostMemory.SHARED, 1));
        assertEquals(Errno.ENOMEM, e.errno());
        assertTrue(e.getMessage().contains("2 GiB") && e.getMessage().contains(HostMemory.LIMIT_PROPERTY),
                e.getMessage());
        assertEquals(2L << 18, mem.frames());
    }

    @Test
    void anExhaustedHeapIsEnomemAndTheVmGoesOn() {
        boolean[] fail = { true };
        Vm vm = core(new Plain(new VmBackend() {
            @Override
            public VerbResult invoke(String verb, VerbArgs args) {
                if (fail[0])
                    throw new OutOfMemoryError("Java heap space");
                return VerbResult.NONE;
            }
        })).create("v", "t", 1, 48, Map.of());
        vm.addMemslot(0, 0, 2L << 20, Set.of(), PageSize.SIZE_4K);
        MmuException e = assertThrows(MmuException.class, () -> vm.invoke("grow", VerbArgs.none("grow")));
        assertEquals(Errno.ENOMEM, e.errno());
        assertTrue(e.getMessage().contains("TDPLAB_JAVA_OPTS=-Xmx"), e.getMessage());
        assertFalse(e.getMessage().contains("Java heap space"), "no Java error text reaches a user");
        fail[0] = false;
        vm.invoke("grow", VerbArgs.none("grow"));
        assertTrue(vm.access(0, Access.WRITE, 0, 8192, Encoding.CURRENT, 7).completed());
        assertTrue(vm.check().violations().isEmpty());
    }

    @Test
    void theLimitComesFromTheProperty() {
        String old = System.getProperty(HostMemory.LIMIT_PROPERTY);
        try {
            System.setProperty(HostMemory.LIMIT_PROPERTY, "2T");
            assertEquals(2L << 40, VmManagerComponent.hostMemoryLimit());
            System.setProperty(HostMemory.LIMIT_PROPERTY, "8G");
            assertEquals(8L << 30, VmManagerComponent.hostMemoryLimit());
            assertEquals(8L << 18, VmManagerComponent.hostMemory(8L << 30).frames(), "starts at the limit below 64G");
            System.setProperty(HostMemory.LIMIT_PROPERTY, "lots");
            assertEquals(HostMemory.DEFAULT_LIMIT, VmManagerComponent.hostMemoryLimit());
            // at least a gigabyte, whole gigabytes, no overflow; anything else is the default
            String[][] cases = { { "1G", String.valueOf(1L << 30) }, { "1023M", "-" }, { "1536m", String.valueOf(
                    1L << 30) }, { "1048576K", String.valueOf(1L << 30) }, { String.valueOf(3L << 30), String.valueOf(
                    3L << 30) }, { "0G", "-" }, { "-4G", "-" }, { "16777216T", "-" }, { " ", "-" } };
            for (String[] c : cases) {
                System.setProperty(HostMemory.LIMIT_PROPERTY, c[0]);
                long want = c[1].equals("-") ? HostMemory.DEFAULT_LIMIT : Long.parseLong(c[1]);
                assertEquals(want, VmManagerComponent.hostMemoryLimit(), c[0]);
            }
        } finally {
            if (old == null)
                System.clearProperty(HostMemory.LIMIT_PROPERTY);
            else
                System.setProperty(HostMemory.LIMIT_PROPERTY, old);
        }
    }

    @Test
    void anAttributeRangeTheHeapCannotHoldIsRefusedWholeBeforeAnythingChanges() {
        CoreVm vm = TestVms.create(VmCapabilities.ordinary("sw_protected", 52)
                .withPrivateMemory(org.tdplab.mmu.api.backend.PrivateSource.ATTRIBUTES, 3), 1);
        // 4 PiB of GPA: a 128 GiB attribute bitmap, more than any heap this runs in
        MmuException e = assertThrows(MmuException.class, () -> vm.setMemoryAttributes(0, 1L << 52, true));
        assertEquals(Errno.ENOMEM, e.errno());
        assertTrue(e.getMessage().contains("attr.set gpa=0x0 size=0x10000000000000 needs about 131072 MiB"),
                e.getMessage());
        vm.setMemoryAttributes(0, 1L << 30, true); // the VM goes on, as before the refusal
        assertTrue(vm.check().violations().isEmpty(), vm.check().violations().toString());
    }
}
