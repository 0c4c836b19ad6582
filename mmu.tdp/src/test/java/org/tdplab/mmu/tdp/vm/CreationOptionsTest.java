package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption.Type;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * The core's side of the backend contract: creation options typed against what the backend declares before it is
 * called, capabilities of the type asked for, and the core's counters out of a backend's reach.
 */
class CreationOptionsTest {
    /** A backend of type {@code t} declaring one option of each kind; it records what it was handed. */
    static final class Declaring implements Backend {
        final List<VerbArgs> seen = new ArrayList<>();
        final List<VmOption> declared;
        String describedType = "t";
        Map<String, Long> stats = Map.of();

        Declaring(List<VmOption> declared) {
            this.declared = declared;
        }

        @Override
        public String vmType() {
            return "t";
        }

        @Override
        public List<VmOption> options() {
            return declared;
        }

        @Override
        public VmCapabilities capabilities(int gpaw, VerbArgs options) {
            seen.add(options);
            return VmCapabilities.ordinary(describedType, gpaw);
        }

        boolean attachesNothing;

        @Override
        public VmBackend attach(VmContext vm, VerbArgs options) {
            seen.add(options);
            if (attachesNothing)
                return null;
            return new VmBackend() {
                @Override
                public Map<String, Long> stats() {
                    return stats;
                }
            };
        }
    }

    static final List<VmOption> ALL = List.of(VmOption.of("n", Type.NUMBER, "a number"),
            VmOption.of("on", Type.BOOLEAN, "a switch"), VmOption.choice("mode", "a word", "zap", "bug"),
            VmOption.of("rate", Type.DECIMAL, "a fraction"), VmOption.of("level", Type.LEVEL, "a page size"));

    private static Map<String, String> text(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2)
            m.put(kv[i], kv[i + 1]);
        return m;
    }

    @Test
    void theBackendGetsEachValueTypedAsItsOptionDeclares() {
        Declaring b = new Declaring(ALL);
        VmManager core = Standalone.vmManager(b);
        b.seen.clear(); // the bind described an option-less VM at both widths
        core.create("v", "t", 1, 48, text("n", "0x10|2M", "on", "off", "mode", "bug", "rate", "0.25", "level", "2M"));
        assertEquals(2, b.seen.size(), "capabilities, then attach");
        for (VerbArgs a : b.seen) {
            assertEquals(0x200010L, a.number("n"));
            assertFalse(a.bool("on", true));
            assertEquals("bug", a.word("mode", "zap"));
            assertEquals(0.25, a.decimal("rate", 1));
            assertEquals(2, a.level("level", 1));
        }
    }

    @Test
    void aBackendThatAttachesNothingIsRefusedAtTheCreate() {
        Declaring b = new Declaring(ALL);
        b.attachesNothing = true;
        VmManager core = Standalone.vmManager(b);
        org.tdplab.mmu.api.MmuException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.tdplab.mmu.api.MmuException.class, () -> core.create("v", "t", 1, 48, Map.of()));
        assertEquals(org.tdplab.mmu.api.Errno.EIO, e.errno());
        assertEquals("EIO: the backend of VM type 't' attached no VM (its attach returned null)", e.getMessage());
        assertTrue(core.vms().isEmpty(), "nothing was left half-made");
    }

    @Test
    void anUndeclaredKeyOrAnIllTypedValueIsRefusedBeforeTheBackendIsCalled() {
        Declaring b = new Declaring(ALL);
        VmManager core = Standalone.vmManager(b);
        b.seen.clear();
        String[][] bad = { { "colour", "red", "option 'colour' is not known to VM type t; known: level, mode, n, on, "
                + "rate" }, { "on", "maybe", "on=maybe: VM type t takes on or off" },
                { "n", "lots", "n=lots: VM type t takes a number (decimal or 0x hex, optional suffix K, M, G or T)" },
                { "mode", "sometimes", "mode=sometimes: VM type t takes zap or bug" },
                { "rate", "1/4", "rate=1/4: VM type t takes a decimal number such as 0.25" },
                { "level", "3M", "level=3M: VM type t takes a page size: 4K, 2M or 1G" } };
        for (String[] c : bad) {
            MmuException e = assertThrows(MmuException.class, () -> core.create("v", "t", 1, 48, text(c[0], c[1])));
            assertEquals(Errno.EINVAL, e.errno());
            assertEquals(c[2], e.reason());
        }
        assertTrue(b.seen.isEmpty(), "the backend never saw text");
        assertTrue(core.find("v").isEmpty());
    }

    @Test
    void aBackendThatDeclaresNoOptionsTakesNone() {
        Declaring b = new Declaring(List.of());
        MmuException e = assertThrows(MmuException.class,
                () -> Standalone.vmManager(b).create("v", "t", 1, 48, text("n", "1")));
        assertEquals("option 'n' is not known to VM type t; known: none", e.reason());
    }

    @Test
    void capabilitiesOfAnotherTypeAreABackendBugRefusedWithEio() {
        Declaring b = new Declaring(List.of());
        b.describedType = "default";
        VmManager core = Standalone.vmManager(b);
        MmuException e = assertThrows(MmuException.class, () -> core.create("v", "t", 1, 48, Map.of()));
        assertEquals(Errno.EIO, e.errno());
        assertEquals("the backend serving VM type 't' described a VM of type 'default'", e.reason());
        assertTrue(core.find("v").isEmpty());
    }

    @Test
    void aBackendCannotOverwriteTheCoresCounters() {
        Declaring b = new Declaring(List.of());
        b.stats = Map.of("pages_4k", 999L, "mine", 7L);
        Vm vm = Standalone.vmManager(b).create("v", "t", 1, 48, Map.of());
        assertEquals(0L, vm.stats().get("pages_4k"));
        assertEquals(7L, vm.stats().get("mine"));
    }

    @Test
    void aBackendTakingOverAVmReadsItsOptionsByItsOwnDeclaration() {
        Declaring first = new Declaring(ALL);
        VmManager core = Standalone.vmManager(first);
        Vm vm = core.create("v", "t", 1, 48, text("mode", "bug"));
        Standalone.unbind(core, first);
        Declaring narrower = new Declaring(List.of(VmOption.of("n", Type.NUMBER, "a number")));
        Standalone.bind(core, narrower, 7, "2");
        assertTrue(vm.suspension().orElse("").contains("option 'mode' is not known to VM type t"),
                vm.suspension().toString());
        Declaring same = new Declaring(ALL);
        Standalone.bind(core, same, 8, "3");
        assertTrue(vm.suspension().isEmpty());
    }
}
