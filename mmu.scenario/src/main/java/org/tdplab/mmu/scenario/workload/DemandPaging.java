package org.tdplab.mmu.scenario.workload;

import java.util.Set;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Vm;

/**
 * {@code demand_paging_test}: every vCPU touches each page of its partition once (first touch, so every access
 * faults), then the per-vCPU and overall paging rates. {@code access=write|read} (the selftest writes).
 */
final class DemandPaging implements Workloads.Workload {
    @Override
    public Set<String> options() {
        return Set.of("access");
    }

    @Override
    public void run(Context c) {
        Access access = c.options.word("access", "write", "write", "read").equals("read") ? Access.READ : Access.WRITE;
        c.acceptAll("accept");
        Vcpus.Phase p = Vcpus.run("demand-paging", c.vcpus, v -> c.touch(v, access, 0, Vm.DEFAULT_TOKEN));
        c.report.rates(p, "demand paging");
    }
}
