package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.kvm.Tds.M1;
import static org.tdplab.backend.tdx.kvm.Tds.assertClean;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * A zap of a PAGE.ADDed page while tdx.finalize runs on another thread, after TDH.MR.FINALIZE made the TD runnable in
 * the module but before KVM's state says so: the zap's BLOCK, then no TRACK (KVM: not runnable yet), then REMOVE,
 * which the module refuses (not tracked) — the VM is bugged with the page BLOCKED and its mirror leaf gone.
 */
class FinalizeDuringZapTest {
    private final Tds tds = new Tds();

    @Test
    void zapBetweenMrFinalizeAndRunnable() throws Exception {
        Vm vm = tds.td("fz", 1, 48, 0, Map.of());
        assertDone(vm.access(0, Access.WRITE, M1, 65536, Encoding.SHARED, Vm.DEFAULT_TOKEN));
        vm.setMemoryAttributes(0, 4 * M1, true);
        vm.invoke("init_mem_region", new VerbArgs("init_mem_region", Map.of("gpa", 0x100000L, "size", 65536L),
                Set.of("measure")));
        assertClean(vm);
        CountDownLatch inFinalize = new CountDownLatch(1), zapped = new CountDownLatch(1);
        tds.manager.addObserver(new MmuObserver() {
            @Override
            public void firmwareCall(String name, String leaf, long gfn, int level, String status) {
                if (leaf.equals("TDH.MR.FINALIZE")) {
                    inFinalize.countDown();
                    try {
                        zapped.await(1, TimeUnit.SECONDS); // with the fix the zap waits for finalize: this times out
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        });
        Thread fin = new Thread(() -> vm.invoke("finalize", VerbArgs.none("finalize")));
        fin.start();
        inFinalize.await();
        vm.zapGfnRange(M1, 4096);
        zapped.countDown();
        fin.join();
        System.err.println(String.join("\n", tds.calls.subList(Math.max(0, tds.calls.size() - 6), tds.calls.size())));
        assertClean(vm);
    }
}
