package org.tdplab.mmu.api.backend;

import org.osgi.annotation.versioning.ProviderType;

/** How a backend reaches the core for one VM. Implemented by the core. */
@ProviderType
public interface VmContext {
    String name();

    VmCapabilities capabilities();

    int vcpus();

    /**
     * The state this backend service shares among the VMs of one simulated host — the VMs of one session of the core
     * ({@code VmManager#session}; each file of {@code ./tdplab run} is one): a key pool, a reverse map, a firmware's
     * global state. The first call for {@code type} in a session creates it with {@code create}; later calls of any
     * VM of that session served by the same backend service get the same object. It lives as long as the session
     * (it is dropped when the service goes away). Call it from {@link Backend#attach} or {@link Backend#restore},
     * or from hooks; {@code create} must not call back into the core.
     */
    <T> T hostState(Class<T> type, java.util.function.Supplier<? extends T> create);

    // ---- host memory ------------------------------------------------------------------------------------------

    /**
     * Allocates a host frame the backend's firmware model owns (control structures, external tables). From a vCPU's
     * ioctl ({@link #runningVcpu}) it comes from that vCPU's page list, as {@code alloc_page} takes from the CPU's.
     */
    long allocFirmwareFrame();

    /**
     * Frees a frame of {@link #allocFirmwareFrame}; from a vCPU's ioctl onto that vCPU's page list while it has room.
     */
    void freeFirmwareFrame(long pfn);

    /** The data token of a host frame. */
    long readToken(long pfn);

    void writeToken(long pfn, long token);

    /** The token of the shared (host) page behind a GFN, 0 when it has none: a source to copy an image from. */
    long sharedToken(long gfn);

    /**
     * The backend changed a guest page's contents itself — an initial image copied in, a page the firmware
     * cleared or destroyed — so the data oracle expects {@code token} there from now on.
     */
    void guestDataChanged(long gfn, boolean isPrivate, long token);

    // ---- the MMU ----------------------------------------------------------------------------------------------

    /** {@code KVM_BUG_ON}: marks the VM bugged; later operations fail with EIO. */
    void bug(String reason);

    boolean bugged();

    /**
     * {@code kvm_tdp_mmu_map_private_pfn}: maps the private page at {@code gfn} at 4K through the fault path,
     * retrying on RETRY. Returns false when it could not (no private backing, VM bugged).
     */
    boolean mapPrivate(long gfn);

    /**
     * {@code KVM_SET_MEMORY_ATTRIBUTES} on the backend's own account (a guest's share / unshare hypercall that the
     * backend's firmware handles, say): makes {@code [gfn, gfn + npages)} private or shared with the same zaps,
     * invalidation and hooks ({@link VmBackend#preSetMemoryAttributes}, {@link VmBackend#postSetMemoryAttributes})
     * as the ioctl, but not recorded as an operation of its own (the verb or guest operation that called it is).
     * Call it from a verb ({@link VmBackend#invoke}) or a guest hook, never from a hook that runs under the MMU
     * lock. It does not discard or convert the backing; see {@link VmCapabilities#sharedInPlace}.
     *
     * @throws org.tdplab.mmu.api.MmuException EINVAL for a range beyond the VM or a VM without private memory, the
     *     pre-hook's errno when it refused
     */
    void setMemoryAttributes(long gfn, long npages, boolean toPrivate);

    /** The guest_memfd pfn backing a private GFN (allocating and preparing it), or -1 when there is none. */
    long gmemPfn(long gfn);

    /** The memslots' generation: it changes with every memslot change (add, delete, move, flags). */
    long memslotGeneration();

    boolean isPrivate(long gfn);

    /**
     * The CPU's nested walk for an instruction of vCPU {@code vcpu} that names {@code gfn} as its operand (a page
     * validation instruction, say): the root the hardware walks for an access of that privateness, without the
     * vCPU's TLB and without {@link VmBackend#checkAccess}. Returns a translated {@link Walk} (the page's own pfn
     * and the leaf's level) or the violation the walk reports. Meant for that vCPU's guest hooks
     * ({@link VmBackend#accept}, {@link VmBackend#convertBefore}, {@link VmBackend#convertAfter}). A violation that
     * {@link VmBackend#accept} returns after such a walk is taken at the GFN of its last walk: the instruction
     * faulted on the operand it was translating.
     */
    long nestedWalk(int vcpu, long gfn, boolean isPrivate);

    /**
     * {@link #nestedWalk} and, when it translated, {@code insn} on the frame it reached, in one guest-mode section
     * of vCPU {@code vcpu}: a remote TLB flush (a zap's, a hole punch's) waits for the vCPU to leave guest mode, so
     * it completes before the walk or after the instruction, never between them — the hardware walks an
     * instruction's operand and executes it as one. Without this, a page zapped and freed after the walk would
     * meet an instruction that still uses its frame. Returns the walk, as {@link #nestedWalk} does; the
     * instruction reports its own outcome to the backend.
     */
    long executeOnOperand(int vcpu, long gfn, boolean isPrivate, OperandInstruction insn);

    /**
     * {@code kvm_split_cross_boundary_leafs}: under the MMU write lock, every huge leaf of a backend-owned root
     * that covers part of {@code [gfn, gfn+npages)} and part of what lies outside it is split (through
     * {@link VmBackend#splitExternalSpt}) until no leaf crosses either boundary; e.g. before the backend maps or
     * accepts a 4K page inside a 2M leaf. Returns false when a split failed (the VM is then bugged).
     */
    boolean splitCrossBoundaryLeafs(long gfn, long npages);

    /**
     * {@code hugepage_set_guest_inhibit}: the guest forbids mappings of {@code level} (2 = 2M, 3 = 1G) over the huge
     * page of that level containing {@code gfn} — e.g. it accepted memory there at a smaller size — so later faults
     * map it smaller. The bit lives in the memslot's large-page info and is never cleared. No memslot: nothing.
     */
    void hugepageSetGuestInhibit(long gfn, int level);

    /** {@code hugepage_test_guest_inhibit}: whether {@link #hugepageSetGuestInhibit} was called for that huge page. */
    boolean hugepageTestGuestInhibit(long gfn, int level);

    /** {@code kvm_zap_gfn_range} on behalf of the backend (not a memory-type change). */
    void zapGfnRange(long gfn, long npages);

    /**
     * {@code KVM_REQ_OUTSIDE_GUEST_MODE} to every vCPU: returns once no vCPU is still running in the guest with
     * translations from before the call.
     */
    void kickAllVcpus();

    /**
     * {@code kvm_get_running_vcpu()}: the vCPU whose ioctl the calling thread is in (a guest access, a fault, a
     * prefault, a populate: between {@code vcpu_load} and {@code vcpu_put}), or -1 when it is in none (a VM ioctl, a
     * host-side operation, a teardown). A hook that needs the vCPU's own caches asks; it costs a look at each vCPU.
     */
    int runningVcpu();

    /** Allows {@code KVM_PRE_FAULT_MEMORY} from now on (e.g. at finalize). */
    void allowPreFault();

    // ---- accounting ---------------------------------------------------------------------------------------------

    /**
     * Records a firmware call: counted under {@code name} and traced with its status. Every name recorded here is one
     * of the VM's {@code Vm#firmwareCalls}, whatever its spelling.
     */
    void firmwareCall(String name, long gfn, int level, String status);

    /**
     * Sets the latency table that prices this VM's firmware calls for "projected hardware time": from now on each
     * {@link #firmwareCall} adds {@link FirmwareLatency#nanos} of its name to the VM's {@code projected_firmware_ns}
     * counter — counted, never slept. A backend sets it when it attaches a VM; the table stays with the VM (also
     * across a backend swap) until set again. Without one, firmware calls are counted but not priced.
     */
    void firmwareLatency(FirmwareLatency table);

    // ---- MMU workers ----------------------------------------------------------------------------------------------

    /**
     * One pass of the core's NX huge page recovery ({@code kvm_recover_nx_huge_pages}), for a backend verb that
     * lets a scenario run the worker; returns the number of split huge pages zapped.
     */
    int recoverNxHugePages();
}
