package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.kvm.Tds.K4;
import static org.tdplab.backend.tdx.kvm.Tds.M2;
import static org.tdplab.backend.tdx.kvm.Tds.assertDone;
import static org.tdplab.backend.tdx.kvm.Tds.stat;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;

/**
 * KVM's answers when a SEAMCALL of the TLB tracking or the teardown fails (mainline 6.19, {@code tdx.c} after kvm-x86
 * 597d7068702f): which failures bug the VM, which are retried, and what is leaked — a leaked HKID stays taken, a
 * leaked page stays allocated from the host and counted in {@link TdxVm#framesHeld}. The module does not fail these
 * leaves by itself, so the statuses are injected ({@link SeamcallFaults}, as a scenario's {@code tdx.fail} does:
 * {@code scenarios/tdx-fail-*.scn} take the same paths end to end).
 */
class TdxErrorPathsTest {
    private static final long FAILED = TdxStatus.TDX_OPERAND_INVALID;
    /** TDR, TDCS, and per vCPU its TDVPR and TDCX pages. */
    private static final int CONTROL_PAGES_1_VCPU = 1 + TdxAbi.TDCS_PAGES + 1 + TdxAbi.VP_TDCX_PAGES;

    private final Tds tds = new Tds();

    /** A finalized 1-vCPU TD whose guest accepted 8 pages at 2M (one S-EPT page table, its PD and PDPT). */
    private Vm running(String name) {
        Vm vm = Tds.finalizedTd(tds.manager, name, 1, Map.of(), PageSize.SIZE_4K, 4L << 20);
        assertDone(vm.accept(0, M2, 8 * K4, PageSize.SIZE_4K));
        return vm;
    }

    private List<String> callsOf(String leaf) {
        synchronized (tds.calls) {
            return tds.calls.stream().filter(c -> c.split(" ")[1].equals(leaf)).toList();
        }
    }

    private static HkidPool pool(TdxVm t) {
        return t.hkids;
    }

    @Test
    void cacheWbInterruptedIsResumedUntilItCompletes() {
        Vm vm = running("wb");
        TdxVm t = tds.tdx(vm);
        t.faults.fail(Seamcall.TDH_PHYMEM_CACHE_WB, TdxStatus.TDX_INTERRUPTED_RESUMABLE, 3);
        vm.destroy();
        assertEquals(4, stat(vm, "TDH.PHYMEM.CACHE.WB"), "three resumed, the fourth completes");
        assertFalse(vm.bugged());
        assertFalse(t.hkidAssigned());
        assertEquals(0, t.framesHeld());
        assertEquals(List.of(), t.recorded);
    }

    @Test
    void cacheWbWithNoHkidReadyIsDoneByAnotherCpu() {
        Vm vm = running("wb");
        TdxVm t = tds.tdx(vm);
        t.faults.answer(Seamcall.TDH_PHYMEM_CACHE_WB, TdxStatus.TDX_NO_HKID_READY_TO_WBCACHE, 1);
        vm.destroy();
        assertEquals(1, stat(vm, "TDH.PHYMEM.CACHE.WB"));
        assertFalse(vm.bugged());
        assertEquals(0, t.framesHeld());
        assertEquals(List.of(), t.recorded);
    }

    /** A CACHE.WB failure only WARNs; the KEY.FREEID after it fails, which bugs the VM and leaks the key. */
    @Test
    void cacheWbFailureMakesKeyFreeidFailAndEverythingIsLeaked() {
        Vm vm = running("wb");
        TdxVm t = tds.tdx(vm);
        int hkid = t.hkid;
        long septPages = stat(vm, "TDH.MEM.SEPT.ADD");
        int inUse = pool(t).inUse();
        t.faults.fail(Seamcall.TDH_PHYMEM_CACHE_WB, FAILED, 1);
        vm.destroy();
        assertEquals(List.of("wb TDH.MNG.KEY.FREEID TDX_WBCACHE_NOT_COMPLETE"), callsOf("TDH.MNG.KEY.FREEID"));
        String reason = vm.bugReason().orElseThrow();
        assertTrue(reason.contains("TDH.MNG.KEY.FREEID") && reason.contains("HKID " + hkid + " is leaked"), reason);
        assertLeakedWithTheKey(vm, t, septPages, inUse);
        assertTrue(t.recorded.stream().anyMatch(r -> r.contains("CACHE.WB failed")), t.recorded::toString);
    }

    @Test
    void keyFreeidFailureBugsTheVmAndLeaksTheKeyWithEveryPage() {
        Vm vm = running("freeid");
        TdxVm t = tds.tdx(vm);
        int hkid = t.hkid;
        long septPages = stat(vm, "TDH.MEM.SEPT.ADD");
        int inUse = pool(t).inUse();
        t.faults.fail(Seamcall.TDH_MNG_KEY_FREEID, FAILED, 1);
        vm.destroy();
        assertTrue(vm.bugReason().orElseThrow().startsWith("SEAMCALL TDH.MNG.KEY.FREEID failed: TDX_OPERAND_INVALID"),
                vm.bugReason()::toString);
        assertLeakedWithTheKey(vm, t, septPages, inUse);
        // the next TD gets another HKID: the leaked one is never handed out again
        Vm next = running("next");
        assertNotEquals(hkid, tds.tdx(next).hkid);
        next.destroy();
        assertEquals(inUse, pool(t).inUse(), "only the leaked HKID is still taken");
    }

    /** After a failed key release nothing is reclaimed: every control and S-EPT page stays the TD's, allocated. */
    private void assertLeakedWithTheKey(Vm vm, TdxVm t, long septPages, int inUse) {
        assertTrue(vm.bugged());
        assertTrue(t.hkidAssigned());
        assertEquals(inUse, pool(t).inUse(), "the HKID stays taken");
        assertEquals(List.of(), callsOf("TDH.PHYMEM.PAGE.RECLAIM"));
        assertEquals(CONTROL_PAGES_1_VCPU + septPages, t.framesHeld(), "control pages and S-EPT pages leaked");
        assertEquals(TdxAbi.LC_BLOCKED, t.module().view().lifecycle());
        assertTrue(t.recorded.stream().anyMatch(r -> r.contains("is leaked, and with it the TD's pages")),
                t.recorded::toString);
        assertTrue(t.recorded.stream().noneMatch(r -> r.startsWith("inv 11")), "KVM expects those: no violation");
    }

    /** A VP.FLUSH failure bugs the VM; VPFLUSHDONE then finds the vCPU not flushed and the key is leaked quietly. */
    @Test
    void vpFlushFailureBugsAndVpflushdoneLeaksTheKey() {
        Vm vm = running("flush");
        TdxVm t = tds.tdx(vm);
        long septPages = stat(vm, "TDH.MEM.SEPT.ADD");
        t.faults.fail(Seamcall.TDH_VP_FLUSH, TdxStatus.TDX_OPERAND_BUSY, 1);
        vm.destroy();
        assertTrue(vm.bugReason().orElseThrow().startsWith("SEAMCALL TDH.VP.FLUSH failed"), vm.bugReason()::toString);
        assertEquals(List.of("flush TDH.MNG.VPFLUSHDONE TDX_FLUSHVP_NOT_DONE"), callsOf("TDH.MNG.VPFLUSHDONE"));
        assertEquals(List.of(), callsOf("TDH.PHYMEM.CACHE.WB"));
        assertEquals(List.of(), callsOf("TDH.MNG.KEY.FREEID"));
        assertTrue(t.hkidAssigned());
        assertEquals(CONTROL_PAGES_1_VCPU + septPages, t.framesHeld());
        assertEquals(TdxAbi.LC_KEYS_CONFIGURED, t.module().view().lifecycle());
    }

    /**
     * {@code TDX_FLUSHVP_NOT_DONE} leaks the key without a {@code TDX_BUG_ON}; a TD with S-EPT pages is bugged later
     * all the same, when the MMU frees them with the HKID still assigned ({@code tdx_sept_free_private_spt}'s
     * {@code KVM_BUG_ON}), and those pages are leaked.
     */
    @Test
    void vpflushdoneNotDoneLeaksTheKeyWithoutBuggingTheVm() {
        Vm quiet = Tds.finalizedTd(tds.manager, "quiet", 1, Map.of(), PageSize.SIZE_4K, 4L << 20);
        TdxVm q = tds.tdx(quiet);
        q.faults.fail(Seamcall.TDH_MNG_VPFLUSHDONE, TdxStatus.TDX_FLUSHVP_NOT_DONE, 1);
        quiet.destroy();
        assertFalse(quiet.bugged(), "goto out: no TDX_BUG_ON");
        assertTrue(q.hkidAssigned());
        assertEquals(CONTROL_PAGES_1_VCPU, q.framesHeld());
        assertEquals(List.of(), callsOf("TDH.MNG.KEY.FREEID"));

        Vm vm = running("notdone");
        TdxVm t = tds.tdx(vm);
        long septPages = stat(vm, "TDH.MEM.SEPT.ADD");
        t.faults.fail(Seamcall.TDH_MNG_VPFLUSHDONE, TdxStatus.TDX_FLUSHVP_NOT_DONE, 1);
        vm.destroy();
        assertTrue(vm.bugReason().orElseThrow().startsWith("free_external_spt failed"), vm.bugReason()::toString);
        assertEquals(CONTROL_PAGES_1_VCPU + septPages, t.framesHeld());
        assertTrue(t.recorded.stream().noneMatch(r -> r.startsWith("inv 11")), t.recorded::toString);
    }

    @Test
    void vpflushdoneFailureBugsTheVmAndLeaksTheKey() {
        Vm vm = running("vpflushdone");
        TdxVm t = tds.tdx(vm);
        t.faults.fail(Seamcall.TDH_MNG_VPFLUSHDONE, FAILED, 1);
        vm.destroy();
        assertTrue(vm.bugReason().orElseThrow().startsWith("SEAMCALL TDH.MNG.VPFLUSHDONE failed"),
                vm.bugReason()::toString);
        assertTrue(t.hkidAssigned());
        assertEquals(List.of(), callsOf("TDH.PHYMEM.PAGE.RECLAIM"));
    }

    /**
     * A failed RECLAIM WARNs and leaks that page; it still counts as the TD's, so the TDR's RECLAIM finds pages
     * associated and the TDR is leaked too. The VM is not bugged (no VM to bug in {@code __tdx_reclaim_page}).
     */
    @Test
    void reclaimFailureLeaksThePageAndThenTheTdr() {
        Vm vm = running("reclaim");
        TdxVm t = tds.tdx(vm);
        t.faults.fail(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, FAILED, 1);
        vm.destroy();
        assertFalse(vm.bugged());
        assertFalse(t.hkidAssigned(), "the key was released before");
        assertEquals(2, t.framesHeld(), "the page and the TDR");
        List<String> reclaims = callsOf("TDH.PHYMEM.PAGE.RECLAIM");
        assertEquals("reclaim TDH.PHYMEM.PAGE.RECLAIM TDX_TD_ASSOCIATED_PAGES_EXIST", reclaims.get(reclaims.size() - 1));
        assertTrue(t.recorded.stream().anyMatch(r -> r.contains("leaked: TDH.PHYMEM.PAGE.RECLAIM returned "
                + "TDX_OPERAND_INVALID")), t.recorded::toString);
        assertTrue(t.recorded.stream().anyMatch(r -> r.contains("the TDR") && r.contains("is leaked")),
                t.recorded::toString);
    }

    /** The TDR's WBINVD is the TD's last SEAMCALL: its failure bugs the VM and leaks the TDR. */
    @Test
    void tdrWbinvdFailureBugsTheVmAndLeaksTheTdr() {
        // no private page was ever mapped: the TDR's WBINVD is the first one
        Vm vm = Tds.finalizedTd(tds.manager, "wbinvd", 1, Map.of(), PageSize.SIZE_4K, 4L << 20);
        TdxVm t = tds.tdx(vm);
        t.faults.fail(Seamcall.TDH_PHYMEM_PAGE_WBINVD, FAILED, 1);
        vm.destroy();
        assertTrue(vm.bugReason().orElseThrow().startsWith("SEAMCALL TDH.PHYMEM.PAGE.WBINVD failed"),
                vm.bugReason()::toString);
        assertFalse(t.hkidAssigned());
        assertEquals(1, t.framesHeld(), "the TDR");
    }

    /**
     * A TRACK failure that is not BUSY bugs the VM (6.19: the kick and REMOVE still follow; REMOVE finds the range
     * untracked). The page stays BLOCKED and the TD's: guest_memfd frees it while the TD owns it (the window
     * kvm-x86 ce7b5695397b accepts), and at teardown the TDR cannot be reclaimed.
     */
    @Test
    void trackFailureBugsTheVmAndLeavesThePageBlocked() {
        Vm vm = running("track");
        TdxVm t = tds.tdx(vm);
        t.faults.fail(Seamcall.TDH_MEM_TRACK, TdxStatus.TDX_PREVIOUS_TLB_EPOCH_BUSY, 1);
        long removes = stat(vm, "TDH.MEM.PAGE.REMOVE");
        try {
            vm.zapGfnRange(M2, K4);
        } catch (MmuException e) {
            // the zap reports the bug
        }
        assertTrue(vm.bugReason().orElseThrow().contains("TDH.MEM.TRACK"), vm.bugReason()::toString);
        assertEquals(removes + 1, stat(vm, "TDH.MEM.PAGE.REMOVE"), "REMOVE was still tried");
        assertTrue(callsOf("TDH.MEM.PAGE.REMOVE").get(callsOf("TDH.MEM.PAGE.REMOVE").size() - 1)
                .contains("TDX_TLB_TRACKING_NOT_DONE"));
        vm.destroy();
        assertFalse(t.hkidAssigned(), "KEY.FREEID does not look at the S-EPT");
        assertEquals(1, t.framesHeld(), "the TDR: the blocked page is still associated with it");
        assertTrue(t.recorded.stream().anyMatch(r -> r.contains("I9: guest_memfd frees page")), t.recorded::toString);
    }
}
