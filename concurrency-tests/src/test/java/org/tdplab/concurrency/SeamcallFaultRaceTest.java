package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.K4;
import static org.tdplab.concurrency.Lab.M2;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * {@code tdx.fail} queues statuses (under {@code slots_lock}) while a zap's removals take them (under the MMU lock,
 * no {@code slots_lock}): the host thread queues a TDX_OPERAND_BUSY answer of TDH.MEM.TRACK while another zaps two
 * private pages, one TRACK each. The answer is given once or is still queued: a BUSY TRACK is retried (one more call)
 * and the TD lives, so TRACK calls = 2 + answers taken and answers taken + still queued = 1 — what the next
 * {@code tdx.fail}'s result (the calls queued, with its own) tells.
 */
@ExtendWith(FrayTestExtension.class)
class SeamcallFaultRaceTest {
    @ConcurrencyTest(iterations = 200)
    void queuedWhileAZapTakesThem() throws Exception {
        Vm vm = new Lab().vm("tdx", 1, Map.of());
        vm.addMemslot(0, 0, 2 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 2 * M2, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        if (!vm.accept(0, M2, 2 * K4, PageSize.SIZE_4K).completed())
            throw new AssertionError("accept");
        Lab.parallel(() -> fail(vm), () -> {
            vm.zapGfnRange(M2, K4);
            vm.zapGfnRange(M2 + K4, K4);
        });
        long queued = fail(vm) - 1, tracks = vm.stats().get("TDH.MEM.TRACK");
        if (vm.bugged() || tracks - 2 + queued != 1)
            throw new AssertionError("TRACK called " + tracks + " times, " + queued + " answers still queued, bugged: "
                    + vm.bugReason().orElse("no"));
        Lab.assertConsistent(vm);
    }

    /** One TDX_OPERAND_BUSY of TDH.MEM.TRACK queued; the calls of it now queued. */
    private static long fail(Vm vm) {
        return vm.invoke("fail", new VerbArgs("tdx.fail", Map.of("leaf", "TDH.MEM.TRACK", "status",
                "TDX_OPERAND_BUSY"), Set.of())).count().orElseThrow();
    }
}
