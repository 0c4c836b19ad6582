package org.tdplab.backend.snp.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * An SNP guest across backend swaps from builds whose snapshot format differs: format 3 (with the RMP instruction
 * counts) is taken over, format 2 is refused naming the versions this backend reads, and the VM resumes with the
 * next backend that can.
 */
class SnpSnapshotUpgradeTest {
    static final long K4 = 0x1000, M2 = 2L << 20;

    @Test
    void aFormat3SnapshotIsTakenOverAndAFormat2OneRefused() {
        Backend first = new SnpBackend();
        VmManager manager = Standalone.vmManager(first);
        Vm vm = manager.create("g", "snp", 1, 48, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, M2, true);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        assertTrue(vm.accept(0, 0x3000, K4, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0x3000, K4, Encoding.PRIVATE, 7).completed());
        long updates = vm.stats().get("RMPUPDATE");

        Standalone.unbind(manager, first);
        Backend older = tampering(new SnpBackend(), s -> s.put(Backend.SNAPSHOT_VERSION, 2));
        Standalone.bind(manager, older, 10, "0.8");
        String why = vm.suspension().orElseThrow();
        assertTrue(why.contains("SnpSnapshot snapshot version 2 is incompatible (this backend restores version "
                + SnpSnapshot.VERSION + " and upgrades [3])"), why);

        Standalone.unbind(manager, older);
        Backend fromThree = tampering(new SnpBackend(), s -> { // what a build of format 3 wrote
            s.put(Backend.SNAPSHOT_VERSION, 3);
            s.put("counts", Map.of("rmpupdates", 5L, "psmashes", 0L, "pvalidates", 5L, "rmpadjusts", 0L));
        });
        Standalone.bind(manager, fromThree, 11, "0.9");
        assertTrue(vm.suspension().isEmpty(), () -> vm.suspension().toString());
        assertEquals(updates, vm.stats().get("RMPUPDATE"), "the core's counts cross the swap");
        var read = vm.access(0, Access.READ, 0x3000, K4, Encoding.PRIVATE, 0);
        assertTrue(read.completed() && read.value() == 7, read::toString);
        assertTrue(vm.accept(0, 0x4000, K4, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0x4000, K4, Encoding.PRIVATE, 8).completed());
        CheckReport r = vm.check();
        assertTrue(r.ok(), () -> String.join("\n", r.violations()));
        vm.destroy();
    }

    /** {@code real}, restoring a copy of the snapshot changed by {@code change}. */
    private static Backend tampering(Backend real, Consumer<Map<String, Object>> change) {
        return new Backend() {
            @Override
            public String vmType() {
                return real.vmType();
            }

            @Override
            public VmCapabilities capabilities(int gpaw, VerbArgs options) {
                return real.capabilities(gpaw, options);
            }

            @Override
            public VmBackend attach(VmContext vm, VerbArgs options) {
                return real.attach(vm, options);
            }

            @Override
            public List<org.tdplab.mmu.api.backend.VerbSpec> verbs() {
                return real.verbs();
            }

            @Override
            public Set<String> firmwareCalls() {
                return real.firmwareCalls();
            }

            @Override
            public Map<Integer, String> exceptions() {
                return real.exceptions();
            }

            @Override
            public List<org.tdplab.mmu.api.backend.VmOption> options() {
                return real.options();
            }

            @Override
            public VmBackend restore(VmContext vm, VerbArgs options, Map<String, Object> snapshot) {
                Map<String, Object> copy = new LinkedHashMap<>(snapshot);
                change.accept(copy);
                return real.restore(vm, options, copy);
            }
        };
    }
}
