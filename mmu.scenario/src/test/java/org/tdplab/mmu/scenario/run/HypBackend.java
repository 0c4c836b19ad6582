package org.tdplab.mmu.scenario.run;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * A VM type whose firmware is a hypervisor with lower-case call names, as an outside author would write one:
 * {@code hyp_map} for each translation the hardware walk completes, {@code hyp_reclaim} at teardown (both recorded as
 * calls), {@code hyp_share} only counted in its own stats and declared (verb {@code hyp.share VM}). The VMs of one
 * simulated host count themselves in host state ({@code hyp_vm_seq}: this VM's number on its host).
 */
final class HypBackend implements Backend {
    /** What the VMs of one host share. */
    static final class Host {
        final AtomicLong vms = new AtomicLong();
    }

    @Override
    public String vmType() {
        return "hyp";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
        return VmCapabilities.ordinary("hyp", gpaw);
    }

    @Override
    public Set<String> firmwareCalls() {
        return Set.of("hyp_map", "hyp_reclaim", "hyp_share");
    }

    @Override
    public List<VerbSpec> verbs() {
        return List.of(new VerbSpec("hyp.share", List.of(), List.of(), "one counted hypervisor call"));
    }

    @Override
    public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
        long seq = vm.hostState(Host.class, Host::new).vms.incrementAndGet();
        AtomicLong shares = new AtomicLong();
        return new VmBackend() {
            @Override
            public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
                vm.firmwareCall("hyp_map", gfn, level, "ok");
                return Walk.translated(pfn, level);
            }

            @Override
            public VerbResult invoke(String verb, VerbArgs args) {
                shares.incrementAndGet();
                return VerbResult.NONE;
            }

            @Override
            public void teardown() {
                vm.firmwareCall("hyp_reclaim", -1, 0, "ok");
            }

            @Override
            public Map<String, Long> stats() {
                return Map.of("hyp_share", shares.get(), "hyp_vm_seq", seq, "BUSY_SEEN", 0L);
            }
        };
    }
}
