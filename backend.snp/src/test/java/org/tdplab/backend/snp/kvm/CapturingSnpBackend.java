package org.tdplab.backend.snp.kvm;

import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;

/** The SNP backend, keeping the {@link VmContext} of the VM it attached last: tests reach the backend's insides. */
class CapturingSnpBackend extends SnpBackend {
    volatile VmContext ctx;

    @Override
    public VmBackend attach(VmContext vm, VerbArgs options) {
        ctx = vm;
        return super.attach(vm, options);
    }
}
