package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M2;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * {@code tdx.fail}, the scenario's fault injection into the SEAMCALLs whose failure KVM handles: what it queues, that
 * an error status stops the leaf and an informational one comes after it ran, and the refusals of bad input, which
 * queue nothing. (What each failure then does to the TD is {@link TdxErrorPathsTest}'s.)
 */
class TdxFailVerbTest {
    private final Tds tds = new Tds();

    private Vm running(String name) {
        Vm vm = Tds.finalizedTd(tds.manager, name, 1, Map.of(), PageSize.SIZE_4K, 4L << 20);
        assertDone(vm.accept(0, M2, 8 * K4, PageSize.SIZE_4K));
        return vm;
    }

    private static long fail(Vm vm, String leaf, String status, Long times) {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("leaf", leaf);
        values.put("status", status);
        if (times != null)
            values.put("times", times);
        return vm.invoke("fail", new VerbArgs("tdx.fail", values, Set.of())).count().orElseThrow();
    }

    @Test
    void anErrorStatusFailsTheNextCallsAndTheResultCountsThem() {
        Vm vm = running("freeid");
        assertEquals(1, fail(vm, "TDH.MNG.KEY.FREEID", "TDX_OPERAND_INVALID", null));
        assertEquals(3, fail(vm, "TDH.MNG.KEY.FREEID", "0xc000010000000000", 2L), "queued after the first");
        vm.destroy();
        assertTrue(vm.bugReason().orElseThrow().startsWith("SEAMCALL TDH.MNG.KEY.FREEID failed: TDX_OPERAND_INVALID"),
                vm.bugReason()::toString);
        assertTrue(tds.tdx(vm).hkidAssigned(), "leaked");
    }

    @Test
    void hexStatusWithTimesIsResumedAsOften() {
        Vm vm = running("wb");
        assertEquals(3, fail(vm, "TDH.PHYMEM.CACHE.WB", "0x8000000300000000", 3L));
        vm.destroy();
        assertEquals(4, stat(vm, "TDH.PHYMEM.CACHE.WB"));
        assertFalse(vm.bugged());
        assertEquals(0, tds.tdx(vm).framesHeld());
    }

    /** Were the leaf not run, KEY.FREEID would find no write-back done (TDX_WBCACHE_NOT_COMPLETE). */
    @Test
    void anInformationalStatusComesAfterTheLeafRan() {
        Vm vm = running("ready");
        fail(vm, "TDH.PHYMEM.CACHE.WB", "TDX_NO_HKID_READY_TO_WBCACHE", null);
        vm.destroy();
        assertEquals(1, stat(vm, "TDH.PHYMEM.CACHE.WB"));
        assertFalse(vm.bugged(), vm.bugReason()::toString);
        assertFalse(tds.tdx(vm).hkidAssigned());
        assertEquals(0, tds.tdx(vm).framesHeld());
    }

    /** Every WBINVD call site consults the queue: a private page's after its REMOVE too, whose failure bugs the VM. */
    @Test
    void aPrivatePagesWbinvdCanFail() {
        Vm vm = running("wbinvd");
        fail(vm, "TDH.PHYMEM.PAGE.WBINVD", "TDX_OPERAND_INVALID", null);
        try {
            vm.zapGfnRange(M2, K4);
        } catch (MmuException e) {
            // the zap may report the bug
        }
        assertTrue(vm.bugReason().orElseThrow().contains("TDH.PHYMEM.PAGE.WBINVD"), vm.bugReason()::toString);
    }

    /**
     * After a failed TRACK the page its removal blocked stays BLOCKED with no mirror leaf: what KVM abandons when it
     * bugs the VM, so the checker does not report it; any other blocked entry still is.
     */
    @Test
    void theCheckerKnowsThePageAFailedRemovalAbandoned() {
        Vm vm = running("track");
        TdxVm t = tds.tdx(vm);
        fail(vm, "TDH.MEM.TRACK", "TDX_OPERAND_INVALID", null);
        try {
            vm.zapGfnRange(M2, K4);
        } catch (MmuException e) {
            // the zap may report the bug
        }
        assertTrue(vm.bugged());
        assertEquals(List.of(), vm.check().violations());
        assertEquals(TdxStatus.TDX_SUCCESS, t.module().tdhMemRangeBlock(M2 + K4, t.tdrHpa(), null));
        List<String> v = vm.check().violations();
        assertEquals(1, v.stream().filter(l -> l.contains("is BLOCKED outside a removal")).count(), v::toString);
        assertTrue(v.stream().anyMatch(l -> l.contains("gpa 0x201000")), v::toString);
    }

    @Test
    void badInputIsEinvalNamingTheValueAndQueuesNothing() {
        Vm vm = running("bad");
        TdxVm t = tds.tdx(vm);
        refused(vm, "TDH.MEM.PAGE.AUG", "TDX_OPERAND_INVALID", null, "leaf=TDH.MEM.PAGE.AUG cannot be failed");
        refused(vm, "TDG.MEM.PAGE.ACCEPT", "TDX_OPERAND_INVALID", null, "leaf=TDG.MEM.PAGE.ACCEPT cannot be failed");
        refused(vm, "TDH.MEM.TRAK", "TDX_OPERAND_INVALID", null, "leaf=TDH.MEM.TRAK: no SEAMCALL leaf");
        refused(vm, "TDH.MEM.TRACK", "TDX_OPERAND_INVALIDD", null, "status=TDX_OPERAND_INVALIDD: neither");
        refused(vm, "TDH.MEM.TRACK", "0x1234567890abcdef0", null, "status=0x1234567890abcdef0: neither");
        refused(vm, "TDH.MEM.TRACK", "TDX_SUCCESS", null, "status=TDX_SUCCESS: TDX_SUCCESS fails nothing");
        refused(vm, "TDH.MEM.TRACK", "0x0", null, "status=0x0: TDX_SUCCESS fails nothing");
        refused(vm, "TDH.MEM.TRACK", "0x4000000000000001", null, "status=0x4000000000000001: no TDX status");
        refused(vm, "TDH.MEM.TRACK", "TDX_OPERAND_BUSY", 0L, "times=0: from 1");
        refused(vm, "TDH.MEM.TRACK", "TDX_OPERAND_BUSY", 1L << 31, "times=2147483648: from 1");
        refused(vm, "TDH.MEM.TRACK", "TDX_OPERAND_BUSY", -1L, "times=18446744073709551615: from 1");
        for (Seamcall leaf : SeamcallFaults.LEAVES)
            assertEquals(0, t.faults.queued(leaf), leaf.intelName());
        vm.destroy();
        assertFalse(vm.bugged());
        assertEquals(0, t.framesHeld());
    }

    private static void refused(Vm vm, String leaf, String status, Long times, String message) {
        MmuException e = assertThrows(MmuException.class, () -> fail(vm, leaf, status, times));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("tdx.fail: " + message), e.getMessage());
    }
}
