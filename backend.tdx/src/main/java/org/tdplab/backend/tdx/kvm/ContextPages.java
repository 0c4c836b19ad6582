package org.tdplab.backend.tdx.kvm;

import org.tdplab.backend.tdx.module.PageContents;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * A TD's pages as its module reads and writes them: the host's data tokens, through the VM's context; a page an
 * ACCEPT zeroed is reported to the core's data oracle.
 */
final class ContextPages implements PageContents {
    private final VmContext ctx;

    ContextPages(VmContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public long read(long pfn) {
        return ctx.readToken(pfn);
    }

    @Override
    public void write(long pfn, long token) {
        ctx.writeToken(pfn, token);
    }

    @Override
    public void zeroedForGuest(long gfn) {
        ctx.guestDataChanged(gfn, true, 0);
    }
}
