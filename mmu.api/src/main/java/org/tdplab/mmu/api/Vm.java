package org.tdplab.mmu.api;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * A VM created by the {@link VmManager}: the host side (the ioctls a VMM issues) and the guest side (what a
 * vCPU does). Every method validates its arguments and refuses bad input with an {@link MmuException} carrying
 * KVM's errno and a message naming the offending value; a refused call changes nothing. Once the VM is dead
 * ({@code kvm_vm_dead}, or bugged by {@code KVM_BUG_ON}) every call fails with {@code EIO}.
 */
@ProviderType
public interface Vm {
    /** The {@code value} of {@link #access} that writes each page's own GPA as its token. */
    long DEFAULT_TOKEN = Long.MIN_VALUE;

    /**
     * The 4K translations each simulated vCPU's TLB holds at most (direct-mapped, so fewer when pages collide). A flush
     * empties it; aging does not, as on hardware, so a page whose translation it still holds sets no accessed bit.
     */
    int VCPU_TLB_ENTRIES = 1024;

    String name();

    String type();

    int vcpus();

    /** The capabilities its backend gave for this VM's configuration. */
    VmCapabilities capabilities();

    /**
     * Why the VM is suspended, when it is: its backend went away and no backend of its type has taken it over yet
     * (or the one that came refused its snapshot). Operations of a suspended VM wait, bounded, for a backend; past
     * the bound they fail with {@code ENODEV} naming the VM type. Empty while the VM runs.
     */
    default Optional<String> suspension() {
        return Optional.empty();
    }

    /** The bundle and version of the backend serving this VM now ({@code "-"} while suspended). */
    default String backendVersion() {
        return "-";
    }

    /** Tears the VM down in the kernel's order: private leaves, the backend's key release, then the tables. */
    void destroy();

    // ---- memslots (KVM_SET_USER_MEMORY_REGION2) -------------------------------------------------------------

    /**
     * Adds memslot {@code id} at {@code gpa}. {@code backing} is the largest host mapping (shared memory) or
     * guest_memfd folio (private memory) available to it.
     *
     * @throws MmuException {@code EEXIST} on overlap or a used id, {@code EINVAL} when misaligned, empty, beyond
     *     the guest physical address width, or with flags the VM type forbids
     */
    void addMemslot(int id, long gpa, long size, Set<SlotFlag> flags, PageSize backing);

    /** Deletes a memslot, zapping its range as the kernel does for this VM type. */
    void deleteMemslot(int id);

    /** Moves a memslot to a new base GPA (delete of the old range, then create). */
    void moveMemslot(int id, long gpa);

    // ---- dirty logging -------------------------------------------------------------------------------------

    void setDirtyLogging(int slot, boolean enable, DirtyLogOptions options);

    /** {@code KVM_GET_DIRTY_LOG}: the slot's dirty bitmap, one bit per 4K page from the slot's base. */
    long[] getDirtyLog(int slot);

    /** {@code KVM_CLEAR_DIRTY_LOG} over a range of the slot (re-protecting the pages). */
    void clearDirtyLog(int slot, long gpa, long size);

    // ---- memory attributes and guest_memfd -----------------------------------------------------------------

    /** {@code KVM_SET_MEMORY_ATTRIBUTES}. {@code EINVAL} on a VM without private memory. */
    void setMemoryAttributes(long gpa, long size, boolean isPrivate);

    /** {@code fallocate(PUNCH_HOLE)} on the guest_memfd backing that GPA range. */
    void punchHole(long gpa, long size);

    // ---- MMU operations --------------------------------------------------------------------------------------

    /**
     * {@code KVM_PRE_FAULT_MEMORY}: maps the range as faults would. Returns the bytes that remain unmapped when
     * it stopped early ({@code range.size} after the ioctl), 0 when the whole range was mapped.
     */
    long prefault(int vcpu, long gpa, long size);

    /** {@code kvm_zap_gfn_range}, as a memory-type (MTRR/PAT) change causes it. */
    void zapGfnRange(long gpa, long size);

    /** An MMU-notifier invalidation of the host mapping behind a range. */
    void notifyUnmap(long gpa, long size);

    /** MMU-notifier age: clears the accessed state; returns the number of young pages found. */
    long age(long gpa, long size);

    /** MMU-notifier test-young: returns the number of young pages, changing nothing. */
    long testAge(long gpa, long size);

    /**
     * One pass of the NX huge page recovery worker ({@code kvm_recover_nx_huge_pages}): zaps
     * {@code ceil(nx_lpage_splits / ratio)} of the huge pages split for exec faults, so they can come back huge.
     * Returns the number zapped; {@code ENOTSUP} where the VM does not implement it.
     */
    default int recoverNxHugePages() {
        throw new MmuException(Errno.ENOTSUP, "NX huge page recovery is not supported");
    }

    /** Runs the full invariant checker now. */
    CheckReport check();

    // ---- guest -----------------------------------------------------------------------------------------------

    /**
     * vCPU {@code vcpu} touches every 4K page of {@code [gpa, gpa+size)} through its TLB and the hardware walk;
     * EPT/NPT violations go to the fault handler and the access is retried as the hardware would. A write stores
     * {@code value} as each page's data token; a read returns the tokens it reaches.
     */
    AccessResult access(int vcpu, Access access, long gpa, long size, Encoding encoding, long value);

    /**
     * The guest's whole conversion protocol for a range and the exit handled as a VMM does: set the attributes,
     * then discard the backing of the old kind.
     */
    AccessResult convert(int vcpu, boolean toPrivate, long gpa, long size);

    /** The guest accepts (validates) private memory. {@code ENOTSUP} on a VM type without acceptance. */
    AccessResult accept(int vcpu, long gpa, long size, PageSize level);

    /**
     * The first half of {@link #convert}: the guest's conversion request ({@code KVM_HC_MAP_GPA_RANGE}) and the
     * VMM's handling of it, without the guest accepting the range afterwards. Replays use it, since a trace
     * records the acceptance's faults on their own.
     */
    AccessResult mapGpaRange(int vcpu, boolean toPrivate, long gpa, long size);

    // ---- replay ----------------------------------------------------------------------------------------------

    /** How {@link #fault} ended: {@code RET_PF_*} of the fault handler, or the exit it made. */
    enum FaultResult {
        FIXED, SPURIOUS, RETRY, EMULATE, WRITE_PROTECTED, INVALID, CONTINUE, MEMORY_FAULT, MMIO, DEAD
    }

    /**
     * Delivers one EPT/NPT-violation exit of vCPU {@code vcpu} to the fault handler, as a trace's
     * {@code kvm_page_fault} records it: {@code gpa} as the guest addressed it (with the shared bit, for VM types
     * that have one) and KVM's page-fault error code ({@code PFERR_*}; {@code PFERR_PRIVATE_ACCESS}, bit 49, marks
     * a private access for VM types whose privateness comes with the access). Nothing is retried and the guest
     * is not resumed: the result is what the handler returned.
     */
    FaultResult fault(int vcpu, long gpa, long errorCode);

    // ---- inspection ------------------------------------------------------------------------------------------

    /**
     * The leaf (or deepest present entry) mapping {@code gpa}'s GFN in the given root, if that root exists.
     *
     * @throws MmuException EINVAL when {@code gpa} lies beyond the VM's guest physical address width
     */
    Optional<SpteInfo> lookup(long gpa, RootKind root);

    /**
     * The walk of {@code gpa}'s GFN in the given root, level by level: the entry at each level from the root's top
     * level down to the leaf, or to the first entry that is not present. Empty when that root does not exist.
     *
     * @throws MmuException EINVAL when {@code gpa} lies beyond the VM's guest physical address width
     */
    List<SpteInfo> walk(long gpa, RootKind root);

    /**
     * Counters: the kernel's stat names for the core, the hardware's names for backend counters. Every name of
     * {@link #firmwareCalls()} is among them (0 until called). After {@link #destroy()} these are the final counters,
     * as the teardown left them (its own firmware calls included), and they no longer change.
     */
    Map<String, Long> stats();

    /**
     * The names of the {@link #stats()} counters that count firmware calls: the ones the backend declares
     * ({@code Backend#firmwareCalls}) and every name it recorded a call under ({@code VmContext#firmwareCall}),
     * whatever their spelling. Workloads, reports and the shell add up and draw these, and no other counter, as
     * firmware calls. Kept after {@link #destroy()}.
     */
    default Set<String> firmwareCalls() {
        return Set.of();
    }

    /** Whether {@code KVM_BUG_ON} has marked the VM bugged. */
    boolean bugged();

    /** Why the VM was bugged, if it was. */
    Optional<String> bugReason();

    /**
     * Whether KVM marked the VM dead ({@code kvm_vm_dead}): no vCPU runs again and later ioctls fail with
     * {@code EIO}. A bugged VM is dead too ({@code kvm_vm_bugged} kills it); a VM can die without a bug, as a
     * confidential VM does when its guest touches memory it may not.
     */
    default boolean dead() {
        return bugged();
    }

    /** Why the VM died (its bug reason, when a bug killed it), if it did. */
    default Optional<String> deadReason() {
        return bugReason();
    }

    /**
     * Runs a verb a backend contributes (e.g. {@code finalize}) with arguments typed from its
     * {@link org.tdplab.mmu.api.backend.VerbSpec}; {@code ENOTSUP} for a verb it lacks. Returns what the verb
     * computed: named values (a count, say) and the range a populating verb handed back undone (size 0 when it did it
     * all). A failure after partial progress carries the rest in {@link MmuException#remaining()}.
     */
    VerbResult invoke(String verb, VerbArgs args);
}
