package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.CoreOptions;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.OptionUtils;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * Hot swap under live VMs in a real container: the TDX backend bundle is updated and stopped/started while vCPU
 * threads accept, write, read and convert private memory; the TD is suspended across each swap and resumed from the
 * departing bundle's plain-data snapshot by the new bundle's classes. Afterwards every token reads back, the
 * invariants hold, the counters continue. An incompatible snapshot keeps the VM suspended with the error; a VM type
 * without a backend past the bound gives ENODEV, and the VM recovers when the backend returns.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class BackendSwapIT {
    private static final int VCPUS = 4, ROUNDS = 25;
    private static final long K4 = 4096, M1 = 1L << 20, RANGE = 32 * K4;

    @Inject
    BundleContext context;

    @Inject
    VmManager core;

    @Configuration
    public Option[] config() {
        return OptionUtils.combine(Container.without(),
                CoreOptions.frameworkProperty("tdplab.suspend.timeout.ms").value("1500"));
    }

    private Vm td(String name) {
        Vm vm = core.create(name, "tdx", VCPUS, 48, Map.of("busy_rate", "0.05", "seed", "7"));
        vm.addMemslot(0, 0, 8 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        return vm;
    }

    @Test
    public void tdxBackendUpdatedAndRestartedMidWorkload() throws Exception {
        Vm vm = td("td");
        Vm bystander = core.create("plain", "default", 1, 48, Map.of());
        bystander.addMemslot(0, 0, 2 * M1, Set.of(), PageSize.SIZE_4K);
        swapTwiceMidWorkload(vm, "backend.tdx", "TDH.MEM.PAGE.AUG", vcpu -> work(vm, vcpu),
                // the plain VM ran undisturbed meanwhile
                () -> assertTrue(bystander.access(0, Access.WRITE, 0, K4, Encoding.CURRENT, 5).completed()));
        assertTrue(vm.backendVersion().startsWith("backend.tdx "));
        vm.destroy();
    }

    @Test
    public void snpBackendUpdatedAndRestartedMidWorkload() throws Exception {
        Vm vm = core.create("snp", "snp", VCPUS, 48, Map.of());
        vm.addMemslot(0, 0, 2 * M1, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(M1, 2 * K4, true);
        vm.invoke("launch_update", new VerbArgs("launch_update", Map.of("gpa", 0x100000L, "size", 0x2000L), Set.of("zero")));
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        swapTwiceMidWorkload(vm, "backend.snp", "RMPUPDATE", vcpu -> snpWork(vm, vcpu), () -> {
        });
        vm.destroy();
    }

    /**
     * Runs {@code work} on every vCPU; meanwhile updates the serving bundle (counters carry on), then stops and
     * restarts it (the VM suspends and resumes); the workload completes and the VM holds its invariants.
     */
    private void swapTwiceMidWorkload(Vm vm, String bsn, String counter, java.util.function.IntConsumer work,
            Runnable afterUpdate) throws Exception {
        Bundle backend = Container.bundle(context, bsn);
        ExecutorService pool = Executors.newFixedThreadPool(VCPUS);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int v = 0; v < VCPUS; v++) {
                int vcpu = v;
                done.add(pool.submit(() -> work.accept(vcpu)));
            }
            Thread.sleep(30);
            long before = vm.stats().get(counter);
            assertTrue("the workload still runs at the swap", done.stream().anyMatch(f -> !f.isDone()));
            backend.update(); // a new revision of the bundle: new classes, same VM
            assertTrue(Container.eventually(() -> vm.suspension().isEmpty(), 3000));
            assertTrue(vm.stats().get(counter) >= before);
            afterUpdate.run();
            Thread.sleep(30);
            assertTrue("the workload still runs at the swap", done.stream().anyMatch(f -> !f.isDone()));
            backend.stop();
            assertTrue(vm.suspension().isPresent());
            Thread.sleep(50);
            backend.start();
            assertTrue(Container.eventually(() -> vm.suspension().isEmpty(), 3000));
            for (Future<?> f : done)
                f.get(60, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        assertTrue(String.join("\n", vm.check().violations()), vm.check().ok());
        assertEquals(2L, (long) vm.stats().get("swap_suspensions"));
    }

    private static void snpWork(Vm vm, int vcpu) {
        long base = vcpu * RANGE;
        for (int round = 0; round < 4 * ROUNDS; round++) {
            long token = (vcpu + 1) * 1000L + round;
            ok(vm.convert(vcpu, true, base, RANGE));
            ok(vm.access(vcpu, Access.WRITE, base, RANGE, Encoding.CURRENT, token));
            read(vm, vcpu, base, token);
            ok(vm.convert(vcpu, false, base, RANGE / 2));
            ok(vm.access(vcpu, Access.WRITE, base, RANGE / 2, Encoding.CURRENT, token + 1));
            read(vm, vcpu, base, token + 1);
            read(vm, vcpu, base + RANGE / 2, token);
            ok(vm.convert(vcpu, false, base + RANGE / 2, RANGE / 2));
        }
    }

    @Test
    public void anIncompatibleSnapshotLeavesTheTdSuspendedWithTheError() throws Exception {
        Vm vm = td("td");
        vm.accept(0, 0, RANGE, PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, RANGE, Encoding.PRIVATE, 77);
        Bundle tdx = Container.bundle(context, "backend.tdx");
        tdx.stop();
        ServiceRegistration<Backend> v2 = context.registerService(Backend.class, new FutureFormat(),
                props("tdx"));
        assertTrue(vm.suspension().orElseThrow().contains("incompatible"));
        try {
            vm.access(0, Access.READ, 0, K4, Encoding.CURRENT, 0);
            throw new AssertionError("a suspended VM ran");
        } catch (MmuException e) {
            assertEquals(Errno.ENODEV, e.errno());
            assertTrue(e.getMessage(), e.getMessage().contains("'tdx'") && e.getMessage().contains("incompatible"));
        }
        v2.unregister();
        tdx.start(); // the format the TD was saved in is back
        AccessResult r = vm.access(0, Access.READ, 0, RANGE, Encoding.CURRENT, 0);
        assertTrue(r.completed());
        assertEquals(77, r.value());
        assertTrue(vm.check().ok());
    }

    @Test
    public void aTypeWithoutBackendPastTheBoundGivesEnodevAndTheVmRecovers() throws Exception {
        Vm vm = td("td");
        vm.accept(1, RANGE, RANGE, PageSize.SIZE_4K);
        vm.access(1, Access.WRITE, RANGE, RANGE, Encoding.PRIVATE, 99);
        Bundle tdx = Container.bundle(context, "backend.tdx");
        tdx.stop();
        long t0 = System.nanoTime();
        try {
            vm.access(1, Access.READ, RANGE, K4, Encoding.CURRENT, 0);
            throw new AssertionError("a suspended VM ran");
        } catch (MmuException e) {
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals(Errno.ENODEV, e.errno());
            assertTrue(e.getMessage(), e.getMessage().contains("VM type 'tdx'"));
            assertTrue("waited " + waited + " ms", waited >= 1400);
        }
        // an operation waiting when the backend returns continues
        Future<AccessResult> waiting = Executors.newSingleThreadExecutor().submit(
                () -> vm.access(1, Access.READ, RANGE, RANGE, Encoding.CURRENT, 0));
        Thread.sleep(200);
        tdx.start();
        AccessResult r = waiting.get(5, TimeUnit.SECONDS);
        assertTrue(r.completed());
        assertEquals(99, r.value());
        assertTrue(vm.check().ok());
    }

    private static Dictionary<String, Object> props(String type) {
        Dictionary<String, Object> d = new Hashtable<>();
        d.put(Backend.VM_TYPE, type);
        return d;
    }

    /** A TDX backend of a later snapshot format (2): it refuses the format-1 snapshots of today's bundle. */
    static final class FutureFormat implements Backend {
        @Override
        public String vmType() {
            return "tdx";
        }

        /** The options the TDs here are created with: the takeover is refused for the snapshot, not for them. */
        @Override
        public java.util.List<org.tdplab.mmu.api.backend.VmOption> options() {
            return java.util.List.of(org.tdplab.mmu.api.backend.VmOption.of("busy_rate",
                    org.tdplab.mmu.api.backend.VerbOption.Type.DECIMAL, "busy injection"),
                    org.tdplab.mmu.api.backend.VmOption.of("seed", org.tdplab.mmu.api.backend.VerbOption.Type.NUMBER,
                            "busy injection seed"));
        }

        @Override
        public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
            throw new MmuException(Errno.ENOTSUP, "test backend");
        }

        @Override
        public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
            throw new MmuException(Errno.ENOTSUP, "test backend");
        }

        @Override
        public VmBackend restore(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options, Map<String, Object> snapshot) {
            Object version = snapshot.get(SNAPSHOT_VERSION);
            if (!Integer.valueOf(8).equals(version)) // the shipped backend writes version 7
                throw new MmuException(Errno.EINVAL, "TDX snapshot version %s is incompatible (this backend "
                        + "restores version 8)", version);
            throw new AssertionError("unreachable");
        }
    }

    private static void work(Vm vm, int vcpu) {
        long base = vcpu * 4 * RANGE;
        for (int round = 0; round < ROUNDS; round++) {
            long token = (vcpu + 1) * 1000L + round;
            ok(vm.accept(vcpu, base, RANGE, PageSize.SIZE_4K));
            ok(vm.access(vcpu, Access.WRITE, base, RANGE, Encoding.PRIVATE, token));
            read(vm, vcpu, base, token);
            ok(vm.convert(vcpu, false, base, RANGE / 2));
            read(vm, vcpu, base, 0);
            ok(vm.access(vcpu, Access.WRITE, base, RANGE / 2, Encoding.SHARED, token + 1));
            read(vm, vcpu, base + RANGE / 2, token);
            ok(vm.convert(vcpu, true, base, RANGE / 2));
            read(vm, vcpu, base, 0);
        }
    }

    private static void ok(AccessResult r) {
        if (!r.completed())
            throw new AssertionError("ended with " + r);
    }

    private static void read(Vm vm, int vcpu, long gpa, long expected) {
        AccessResult r = vm.access(vcpu, Access.READ, gpa, RANGE / 2, Encoding.CURRENT, 0);
        ok(r);
        if (!r.valuesAgree() || r.value() != expected)
            throw new AssertionError(String.format("vCPU %d read of 0x%x: %s, expected %d", vcpu, gpa, r, expected));
    }
}
