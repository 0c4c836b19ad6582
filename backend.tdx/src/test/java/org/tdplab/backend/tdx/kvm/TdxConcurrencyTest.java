package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.tdplab.backend.tdx.module.LockWaits;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.api.Vm;

/**
 * vCPU threads accept, write, read and convert their own ranges while the others run, with the module's locks
 * contended: faults install under the read lock while removals (BLOCK, TRACK + kick, REMOVE) hold the write lock.
 * Nothing deadlocks, every read sees what the guest wrote, and the invariants hold at the end.
 */
class TdxConcurrencyTest {
    private static final int VCPUS = 4, ROUNDS = 12;
    private static final long RANGE = 32 * K4;

    @RepeatedTest(3)
    void vcpusConvertAndAccessConcurrently() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (String rate : List.of("0", "0.2")) {
                Tds tds = new Tds();
                Vm vm = tds.td("c" + rate, VCPUS, 48, 0, Map.of("busy_rate", rate, "seed", "5"));
                vm.setMemoryAttributes(0, 4 * M1, true);
                vm.invoke("finalize", VerbArgs.none("finalize"));
                ExecutorService pool = Executors.newFixedThreadPool(VCPUS);
                try {
                    List<Future<?>> done = new ArrayList<>();
                    for (int v = 0; v < VCPUS; v++) {
                        int vcpu = v;
                        done.add(pool.submit(() -> ConversionWorkload.run(vm, vcpu, ROUNDS, RANGE)));
                    }
                    for (Future<?> f : done)
                        f.get();
                } finally {
                    pool.shutdownNow();
                }
                assertClean(vm);
                TdxVm t = tds.tdx(vm);
                vm.destroy();
                assertEquals(0, t.framesHeld());
                assertTrue(t.module().view().pamtEmpty());
            }
        });
    }

    /**
     * {@code tdh_do_no_vcpus}: once KVM keeps vCPUs out ({@code wait_for_sept_zap}) and kicks them, none may enter
     * the TD until it lets them, or the SEAMCALL it retries meets that vCPU again (TDX_OPERAND_BUSY, and KVM kills
     * the VM). A vCPU that was about to enter when KVM set the flag — here it waits for the module's lock, which
     * the test holds meanwhile — must see the flag at its entry, not what it read before.
     */
    @Test
    void aVcpuAboutToEnterWhenKvmKeepsVcpusOutStaysOut() throws Exception {
        Tds tds = new Tds();
        Vm vm = runningTd(tds, "out");
        TdxVm t = tds.tdx(vm);
        t.module().tdExit(0);
        Thread vcpu = new Thread(() -> t.translatePrivate(0, 0, Access.READ));
        t.module().lock.lockExclusive();
        try {
            vcpu.start();
            LockWaits.awaitWaiter(t.module().lock, vcpu);
            t.waitForSeptZap = true;
        } finally {
            t.module().lock.unlockExclusive();
        }
        vcpu.join();
        assertFalse(t.module().view().inGuest(0), "the vCPU entered the TD while KVM kept vCPUs out");
        t.waitForSeptZap = false;
        assertTrue(vm.access(0, Access.READ, 0, K4, Encoding.PRIVATE, 0).completed());
        assertTrue(t.module().view().inGuest(0), "once let in, the vCPU enters again");
    }

    /**
     * The CPU's S-EPT walk takes no module lock: a vCPU inside the TD translates its page while a SEAMCALL holds the
     * module. Once KVM keeps vCPUs out, the walk takes the lock, where the entry decision is made.
     */
    @Test
    void aVcpuInsideTheTdWalksWhileTheModuleIsBusyUnlessKvmKeepsVcpusOut() throws Exception {
        Tds tds = new Tds();
        TdxVm t = tds.tdx(runningTd(tds, "walk"));
        assertTrue(t.module().view().inGuest(0));
        Thread vcpu = new Thread(() -> t.translatePrivate(0, 0, Access.READ));
        t.module().lock.lockExclusive();
        try {
            long w = CompletableFuture.supplyAsync(() -> t.translatePrivate(0, 0, Access.WRITE)).get(10,
                    TimeUnit.SECONDS);
            assertTrue(Walk.isTranslated(w), "the walk waited for the module");
            t.waitForSeptZap = true;
            vcpu.start();
            LockWaits.awaitWaiter(t.module().lock, vcpu); // with vCPUs kept out, it waits for the lock
            t.waitForSeptZap = false;
        } finally {
            t.module().lock.unlockExclusive();
        }
        vcpu.join();
    }

    /** A finalized one-vCPU TD whose vCPU accepted page 0, so it runs inside the TD. */
    private static Vm runningTd(Tds tds, String name) {
        Vm vm = tds.td(name, 1, 48, 0, Map.of());
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertTrue(vm.accept(0, 0, K4, PageSize.SIZE_4K).completed());
        return vm;
    }
}
