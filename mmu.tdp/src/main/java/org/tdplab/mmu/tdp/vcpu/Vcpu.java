package org.tdplab.mmu.tdp.vcpu;

import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.mmu.Stats;
import org.tdplab.mmu.tdp.mmu.Roots;
import org.tdplab.mmu.tdp.mmu.VcpuRoots;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;

/**
 * One vCPU: its roots, its TLB, its reusable fault structure, and the guest-mode handshake that remote TLB
 * flushes and kicks wait on (the model's IPI). A vCPU is driven by one thread at a time.
 */
public final class Vcpu extends org.tdplab.mmu.tdp.sync.LinePadded {
    public final int id;
    public final Tlb tlb = new Tlb(org.tdplab.mmu.api.Vm.VCPU_TLB_ENTRIES);
    public final PageFault fault;
    /** The iterator of this vCPU's hardware walks (the fault has its own: a walk runs inside the fault's retry). */
    public final TdpIter walker;
    /** The GFNs this vCPU's walks dirtied since its last exit, for a VM that logs dirty pages by D bits. */
    public final PageModificationLog pml = new PageModificationLog();
    /** {@code vcpu->mutex}: vCPU ioctls (running the guest, pre-faulting) are serialized per vCPU. */
    public final VcpuMutex mutex = new VcpuMutex();
    /** The records of the thread running this vCPU in the VM's per-thread structures, found once per access. */
    public final VcpuThread thread = new VcpuThread();
    /** The roots this vCPU holds a reference to. */
    public final VcpuRoots roots = new VcpuRoots();
    /** In guest mode: using translations. Remote flushes wait for such vCPUs to notice them. */
    volatile boolean inGuest;
    static final java.lang.invoke.VarHandle IN_GUEST;

    static {
        try {
            IN_GUEST = java.lang.invoke.MethodHandles.lookup().findVarHandle(Vcpu.class, "inGuest", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    /** The flush generation this vCPU has applied to its TLB. */
    volatile long seenFlushGen;

    /** Whether the vCPU is in guest mode now: a remote flush would wait for it. */
    public boolean inGuestMode() {
        return inGuest;
    }
    /** Where the last exit happened (filled by the fault handler, read when building the result). */
    public long exitGpa;
    public boolean exitPrivate;
    /** The token the last read returned. */
    public long lastRead;
    /** Where a hint load's value goes, so that the JIT keeps the load; never read. */
    public long hinted;
    /** The GFN of the last hint (-1: none yet). */
    public long hintedGfn = -1;
    /** What the last EPT/NPT-violation exit's fault handler returned: for diagnostics. */
    public int lastFault;
    /**
     * The re-executions of the access (or accept unit) in progress that count toward the livelock bound, and since
     * when (System.nanoTime, 0: not) it waits for another operation over its page.
     */
    public int retries;
    public long waitingSince;
    /** The GFN of the last nested walk a backend made for an instruction's operand (-1: none in this step). */
    public long operandGfn = -1;

    /** This vCPU's own counters ({@code kvm_vcpu_stat}); only the thread holding {@link #mutex} bumps them. */
    public final Stats.Cells stats;

    /** A vCPU whose counters are nobody's (tests of the vCPU alone). */
    public Vcpu(int id, TablePool pool) {
        this(id, pool, new Stats.Cells());
    }

    public Vcpu(int id, TablePool pool, Stats.Cells stats) {
        this.id = id;
        this.stats = stats;
        this.fault = new PageFault(new TdpIter(pool));
        this.walker = new TdpIter(pool);
    }

    /** {@code kvm_mmu_reload} before entering the guest; a newly loaded root is flushed locally. */
    public void loadRoots(Roots mmuRoots) {
        if (mmuRoots.load(roots))
            tlb.flush();
    }
}
