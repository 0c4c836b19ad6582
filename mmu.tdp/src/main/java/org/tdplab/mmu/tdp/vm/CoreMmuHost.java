package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.tdp.mmu.MmuHost;

/** The VM as its TDP MMU sees it: bugs, the backend, the vCPUs to flush and kick, and the trace. */
final class CoreMmuHost implements MmuHost {
    private final VmStatus status;
    private final Vcpus vcpus;
    private final Tracer trace;
    private final BackendSlot gate;

    CoreMmuHost(VmStatus status, Vcpus vcpus, Tracer trace, BackendSlot gate) {
        this.status = status;
        this.vcpus = vcpus;
        this.trace = trace;
        this.gate = gate;
    }

    @Override
    public void bug(String reason) {
        status.bug(reason);
    }

    @Override
    public boolean bugged() {
        return status.bugged();
    }

    @Override
    public VmBackend backend() {
        return gate.backend();
    }

    @Override
    public void flushRemoteTlbs(long gfn, long npages) {
        trace.tlbFlush(gfn, npages);
        vcpus.guestMode.flushAll();
    }

    @Override
    public void requestRootReload() {
        vcpus.requestRootReload();
    }

    @Override
    public void traceSpteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        trace.spteChanged(root, gfn, level, oldSpte, newSpte);
    }

    @Override
    public boolean tracing() {
        return trace.on();
    }
}
