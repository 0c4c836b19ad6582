package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.tdp.check.CheckTarget;
import org.tdplab.mmu.tdp.check.InvariantChecker;
import org.tdplab.mmu.tdp.mmu.TdpMmu;

/**
 * {@code check VM}: every finding about one VM in one report — the invariant checker's, the data oracle's, the
 * post-conditions the MMU saw fail, and the backend's own checks — taken with the MMU lock held for write, so no
 * fault or range operation is half done while the tables are read.
 */
final class Inspection {
    private final VmStatus status;
    private final TdpMmu mmu;
    private final Vcpus vcpus;
    private final VmMemory mem;
    private final BackendSlot gate;

    Inspection(VmStatus status, TdpMmu mmu, Vcpus vcpus, VmMemory mem, BackendSlot gate) {
        this.status = status;
        this.mmu = mmu;
        this.vcpus = vcpus;
        this.mem = mem;
        this.gate = gate;
    }

    CheckReport check() {
        mmu.lock.writeLock();
        try {
            CheckTarget target = new CheckTarget(mmu, mem.memslots, mem.attributes, vcpus.all, vcpus.guestMode,
                    status.bugged());
            List<String> violations = new ArrayList<>(new InvariantChecker(target).run());
            synchronized (mem.dataViolations) {
                violations.addAll(mem.dataViolations);
            }
            violations.addAll(mmu.opViolations());
            violations.addAll(gate.backend().check(new CoreMmuView(mmu, mem)));
            return new CheckReport(violations, InvariantChecker.CHECKED);
        } finally {
            mmu.lock.writeUnlock();
        }
    }
}
