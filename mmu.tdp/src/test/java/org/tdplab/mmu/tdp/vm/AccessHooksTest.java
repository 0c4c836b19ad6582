package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/** The per-access hooks a backend keeps at the interface's defaults are skipped; every override is asked. */
class AccessHooksTest {
    /** Overrides the walk's check only. */
    static class Checking implements VmBackend {
        final AtomicLong checks = new AtomicLong();

        @Override
        public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
            checks.incrementAndGet();
            return Walk.translated(pfn, level);
        }
    }

    @Test
    void overridesAreFoundWhereverTheClassDeclaresThem() {
        AccessHooks none = AccessHooks.of(new VmBackend() {
        });
        assertFalse(none.runRefusal || none.failEntry || none.checkAccess);
        AccessHooks inherited = AccessHooks.of(new Checking() {
        });
        assertTrue(inherited.checkAccess, "an override in a superclass");
        assertFalse(inherited.runRefusal || inherited.failEntry);
        AccessHooks entry = AccessHooks.of(new VmBackend() {
            @Override
            public String runRefusal(int vcpu) {
                return null;
            }

            @Override
            public Exit failEntry(int vcpu) {
                return null;
            }
        });
        assertTrue(entry.runRefusal && entry.failEntry);
        assertFalse(entry.checkAccess);
    }

    /** A backend whose VMs keep the defaults until a swap brings the version that checks every walk. */
    static final class Swapped implements Backend {
        final Checking next = new Checking();
        final boolean checks;

        Swapped(boolean checks) {
            this.checks = checks;
        }

        @Override
        public String vmType() {
            return "t";
        }

        @Override
        public VmCapabilities capabilities(int gpaw, VerbArgs options) {
            return VmCapabilities.ordinary("t", gpaw);
        }

        @Override
        public VmBackend attach(VmContext vm, VerbArgs options) {
            return checks ? next : new VmBackend() {
            };
        }
    }

    @Test
    void aBackendSwappedInIsAskedFromItsFirstAccess() {
        Swapped first = new Swapped(false), second = new Swapped(true);
        VmManagerComponent core = new VmManagerComponent();
        core.setSuspendTimeoutMillis(5000);
        core.bindStandalone(first, 1);
        Vm vm = core.create("v", "t", 1, 48, Map.of());
        vm.addMemslot(0, 0, 4L << 20, Set.of(), PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, 0x4000, Encoding.CURRENT, Vm.DEFAULT_TOKEN);
        core.unbindStandalone(first);
        core.bindStandalone(second, 2, "2");
        assertTrue(vm.suspension().isEmpty());
        vm.access(0, Access.WRITE, 0x4000, 0x4000, Encoding.CURRENT, Vm.DEFAULT_TOKEN); // 4 faults, 4 walks after
        assertEquals(4, second.next.checks.get(), "each translating walk of the new backend's VM is checked");
        assertTrue(vm.check().ok());
    }
}
