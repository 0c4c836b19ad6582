package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import java.util.Arrays;

import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * KVM_CREATE_VM, KVM_TDX_INIT_VM and KVM_TDX_INIT_VCPU of a TD: TDH.MNG.CREATE, KEY.CONFIG, ADDCX and INIT, then per
 * vCPU TDH.VP.CREATE, ADDCX and INIT ({@code tdx_td_init}, {@code tdx_vcpu_init}).
 */
final class TdxInit {
    private TdxInit() {
    }

    /** Runs a TD-lifecycle SEAMCALL that KVM cannot do without: any failure aborts with EIO ({@code TDX_BUG_ON}). */
    private static void mustSucceed(TdxVm td, Seamcall leaf, long status) {
        td.seamcall(leaf, 0, 0, status);
        if (status != TDX_SUCCESS)
            throw new MmuException(Errno.EIO, "%s failed: %s (0x%x)", leaf.intelName(), TdxStatus.name(status),
                    status);
    }

    /** Builds the TD and its vCPUs at creation; a failure aborts with EIO (the caller tears down what was built). */
    static void run(TdxVm td) {
        td.hkid = td.hkids.alloc();
        td.hkidAssigned = true;
        td.tdrPfn = td.frames.allocControlPage();
        mustSucceed(td, Seamcall.TDH_MNG_CREATE, td.module.tdhMngCreate(td.tdr(), td.hkid));
        mustSucceed(td, Seamcall.TDH_MNG_KEY_CONFIG, td.module.tdhMngKeyConfig(td.tdr()));
        for (int i = 0; i < td.tdcsPfns.length; i++) {
            td.tdcsPfns[i] = td.frames.allocControlPage();
            mustSucceed(td, Seamcall.TDH_MNG_ADDCX, td.module.tdhMngAddcx(td.tdcsPfns[i] << 12, td.tdr()));
        }
        long attributes = td.options.septVeDisable() ? TdxAbi.ATTR_SEPT_VE_DISABLE : 0;
        int gpaw = td.ctx.capabilities().gpaw();
        mustSucceed(td, Seamcall.TDH_MNG_INIT, td.module.tdhMngInit(td.tdr(), gpaw, attributes));
        td.state = TdxVm.TD_STATE_INITIALIZED;
        for (int v = 0; v < td.vcpuPages.length; v++) {
            long[] pages = new long[1 + TdxAbi.VP_TDCX_PAGES];
            Arrays.fill(pages, -1);
            td.vcpuPages[v] = pages;
            pages[0] = td.frames.allocControlPage();
            mustSucceed(td, Seamcall.TDH_VP_CREATE, td.module.tdhVpCreate(pages[0] << 12, td.tdr()));
            for (int i = 1; i < pages.length; i++) {
                pages[i] = td.frames.allocControlPage();
                mustSucceed(td, Seamcall.TDH_VP_ADDCX, td.module.tdhVpAddcx(pages[i] << 12, pages[0] << 12));
            }
            mustSucceed(td, Seamcall.TDH_VP_INIT, td.module.tdhVpInit(pages[0] << 12));
        }
    }
}
