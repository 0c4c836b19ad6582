package org.tdplab.mmu.tdp.sync;

/**
 * A base for objects that one vCPU thread writes at every fault (its vCPU, fault, walker): 128 bytes of padding
 * ahead of the subclass's fields, so that they never share a cache line with the end of whatever object the heap put
 * before them — another vCPU's state, when a VM's vCPUs are made one after the other. Two vCPU threads of one VM
 * spent 1.12–1.23× the CPU time of one thread for the same faults, against 1.02× for two VMs of one vCPU each
 * (`./tdplab bench --only threads`). The leading {@code int} fills the gap after the object header, where the JVM
 * would otherwise put a small field of the subclass.
 */
@SuppressWarnings("unused")
public abstract class LinePadded {
    private int gap;
    private long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
}
