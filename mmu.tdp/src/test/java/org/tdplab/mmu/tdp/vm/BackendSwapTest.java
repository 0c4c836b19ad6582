package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/** Suspension and resumption of VMs whose backend goes away, with a counting backend that snapshots its counter. */
class BackendSwapTest {
    /** A backend whose per-VM state is one counter of hook calls, carried across swaps at {@code version}. */
    static class Counting implements Backend {
        final String type;
        final int version;
        final Set<VmBackend> made = java.util.concurrent.ConcurrentHashMap.newKeySet();

        Counting(String type, int version) {
            this.type = type;
            this.version = version;
        }

        @Override
        public String vmType() {
            return type;
        }

        @Override
        public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
            return VmCapabilities.ordinary(type, gpaw).withSlotZapAll(true);
        }

        @Override
        public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
            return vm(0);
        }

        @Override
        public VmBackend restore(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options, Map<String, Object> snapshot) {
            Object v = snapshot.get(SNAPSHOT_VERSION);
            if (!Integer.valueOf(version).equals(v))
                throw new MmuException(Errno.EINVAL, "snapshot version %s is incompatible (want %d)", v, version);
            return vm((Long) snapshot.get("checks"));
        }

        private VmBackend vm(long start) {
            AtomicLong checks = new AtomicLong(start);
            VmBackend b = new VmBackend() {
                @Override
                public java.util.List<String> check(org.tdplab.mmu.api.backend.MmuView view) {
                    if (!made.contains(this))
                        throw new AssertionError("hook called on a departed backend");
                    checks.incrementAndGet();
                    return java.util.List.of();
                }

                @Override
                public Map<String, Long> stats() {
                    return Map.of("checks", checks.get());
                }

                @Override
                public Map<String, Object> snapshot() {
                    made.remove(this);
                    Map<String, Object> s = new HashMap<>();
                    s.put(SNAPSHOT_VERSION, version);
                    s.put("checks", checks.get());
                    return s;
                }
            };
            made.add(b);
            return b;
        }
    }

    private static VmManagerComponent core(long timeoutMs, Backend... backends) {
        VmManagerComponent core = new VmManagerComponent();
        core.setSuspendTimeoutMillis(timeoutMs);
        long id = 1;
        for (Backend b : backends)
            core.bindStandalone(b, id++);
        return core;
    }

    @Test
    void operationsWaitForTheNextBackendAndStateCrossesOver() throws Exception {
        Counting a = new Counting("t", 1), other = new Counting("u", 1);
        VmManagerComponent core = core(5000, a, other);
        Vm vm = core.create("v", "t", 2, 48, Map.of());
        Vm bystander = core.create("w", "u", 1, 48, Map.of());
        vm.addMemslot(0, 0, 4L << 20, Set.of(), PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, 0x4000, Encoding.CURRENT, 42);
        vm.check();
        vm.check();
        assertEquals(2L, vm.stats().get("checks"));

        core.unbindStandalone(a);
        assertTrue(vm.suspension().isPresent());
        assertTrue(bystander.check().ok()); // other VM types are undisturbed
        CompletableFuture<Long> waiting = CompletableFuture.supplyAsync(
                () -> vm.access(1, Access.READ, 0, 0x4000, Encoding.CURRENT, 0).value());
        Thread.sleep(100);
        assertFalse(waiting.isDone());
        core.bindStandalone(new Counting("t", 1), 9, "2");
        assertEquals(42L, waiting.get(5, TimeUnit.SECONDS));
        assertTrue(vm.suspension().isEmpty());
        assertTrue(vm.check().ok());
        assertEquals(3L, vm.stats().get("checks")); // the counter continues
        assertEquals(1L, vm.stats().get("swap_suspensions"));
        assertEquals(1L, vm.stats().get("swap_ops_waited"));
        assertEquals("standalone 2", vm.backendVersion());
    }

    @Test
    void pastTheBoundOperationsFailWithEnodevNamingTheTypeAndTheVmRecovers() {
        Counting a = new Counting("t", 1);
        VmManagerComponent core = core(100, a);
        Vm vm = core.create("v", "t", 1, 48, Map.of());
        vm.addMemslot(0, 0, 4L << 20, Set.of(), PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, 0x1000, Encoding.CURRENT, 7);
        core.unbindStandalone(a);
        MmuException e = assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0, 0x1000, Encoding.CURRENT, 0));
        assertEquals(Errno.ENODEV, e.errno());
        assertTrue(e.getMessage().contains("VM type 't'"), e.getMessage());
        core.bindStandalone(new Counting("t", 1), 2);
        assertEquals(7L, vm.access(0, Access.READ, 0, 0x1000, Encoding.CURRENT, 0).value());
    }

    @Test
    void anIncompatibleSnapshotLeavesTheVmSuspendedWithTheError() {
        Counting a = new Counting("t", 1);
        VmManagerComponent core = core(100, a);
        Vm vm = core.create("v", "t", 1, 48, Map.of());
        core.unbindStandalone(a);
        core.bindStandalone(new Counting("t", 2), 2);
        assertTrue(vm.suspension().orElseThrow().contains("incompatible"), vm.suspension().toString());
        MmuException e = assertThrows(MmuException.class, vm::check);
        assertEquals(Errno.ENODEV, e.errno());
        assertTrue(e.getMessage().contains("incompatible"), e.getMessage());
        core.bindStandalone(new Counting("t", 1), 3); // a compatible one takes it over
        assertTrue(vm.check().ok());
    }

    @Test
    void aNewerVersionOfTheServingBundleTakesLiveVmsOver() {
        Counting a = new Counting("t", 1);
        VmManagerComponent core = new VmManagerComponent();
        core.bindStandalone(a, 1, "1.0.0");
        Vm vm = core.create("v", "t", 1, 48, Map.of());
        vm.check();
        core.bindStandalone(new Counting("t", 1), 2, "0.9.0"); // older: nothing moves
        assertEquals("standalone 1.0.0", vm.backendVersion());
        core.bindStandalone(new Counting("t", 1), 3, "1.1.0");
        assertEquals("standalone 1.1.0", vm.backendVersion());
        assertTrue(vm.check().ok());
        assertEquals(2L, vm.stats().get("checks"));
        assertEquals("standalone 1.1.0", core.create("w", "t", 1, 48, Map.of()).backendVersion());
    }

    @Test
    void aSnapshotThatIsNotPlainDataIsRefused() {
        assertThrows(MmuException.class, () -> PlainData.copy(Map.of("x", new Object())));
        Map<String, Object> ok = PlainData.copy(Map.of("a", new long[] { 1 }, "b", java.util.List.of(1, "s")));
        assertEquals(1L, ((long[]) ok.get("a"))[0]);
    }

    @Test
    void aServiceThatRefusesTheSnapshotLetsTheNextOfTheTypeTakeItAndThePauseIsWhatPassed() {
        Counting a = new Counting("t", 1);
        VmManagerComponent core = core(100, a);
        Vm vm = core.create("v", "t", 1, 48, Map.of());
        vm.check();
        long before = System.nanoTime();
        // a newer version of the bundle is bound: the VM is drained for it, it refuses the snapshot, the old one
        // (still bound) takes the VM back
        core.bindStandalone(new Counting("t", 2), 2, "9");
        long passed = System.nanoTime() - before;
        assertTrue(vm.suspension().isEmpty(), vm.suspension().toString());
        assertEquals("standalone 0", vm.backendVersion());
        assertTrue(vm.check().ok());
        assertEquals(2L, vm.stats().get("checks"));
        long pauseUs = vm.stats().get("swap_last_pause_us");
        assertTrue(pauseUs >= 0 && pauseUs <= passed / 1000, pauseUs + " us of pause in " + passed / 1000 + " us");
    }

    @Test
    void aServingVmOrOneWithoutASnapshotIsNotResumed() {
        Counting a = new Counting("t", 1);
        VmManagerComponent core = core(100, a);
        CoreVm vm = (CoreVm) core.create("v", "t", 1, 48, Map.of());
        assertFalse(vm.gate().resume(new Counting("t", 1), "x"), "it is served already");
        assertEquals("standalone 0", vm.backendVersion());

        Backend noSnapshot = new Counting("t", 1) {
            @Override
            public VmBackend attach(VmContext ctx, org.tdplab.mmu.api.backend.VerbArgs options) {
                return new VmBackend() {
                    @Override
                    public Map<String, Object> snapshot() {
                        throw new MmuException(Errno.EIO, "no snapshot today");
                    }
                };
            }
        };
        core.bindStandalone(noSnapshot, 2, "0.1");
        CoreVm w = (CoreVm) core.create("w", "t", 1, 48, Map.of());
        core.unbindStandalone(a);
        core.unbindStandalone(noSnapshot);
        assertTrue(w.suspension().orElseThrow().contains("no usable snapshot"), w.suspension().toString());
        assertFalse(w.gate().resume(new Counting("t", 1), "y"), "nothing to restore");
        assertTrue(w.suspension().isPresent());
    }

    @Test
    void anOperationInterruptedWhileItWaitsForABackendFailsWithEnodevAndKeepsItsInterrupt() {
        Counting a = new Counting("t", 1);
        VmManagerComponent core = core(600_000, a);
        Vm vm = core.create("v", "t", 1, 48, Map.of());
        core.unbindStandalone(a);
        Thread.currentThread().interrupt();
        MmuException e = assertThrows(MmuException.class, vm::check);
        assertTrue(Thread.interrupted(), "the interrupt is the caller's to see");
        assertEquals(Errno.ENODEV, e.errno());
    }
}
