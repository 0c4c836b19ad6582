package org.tdplab.mmu.api.backend;

import java.util.List;
import java.util.Map;

import org.osgi.annotation.versioning.ConsumerType;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;

/**
 * A backend's side of one VM: the hooks the vendor-neutral core calls. Every method has the kernel behaviour it
 * models in its comment; the defaults are what an ordinary VM does (nothing). Hooks that the kernel calls under
 * {@code mmu_lock} are called under the model's MMU lock in the same mode.
 */
@ConsumerType
public interface VmBackend {
    // ---- backend-owned (external) tables ------------------------------------------------------------------------
    //
    // The core calls these for the roots whose tables the backend keeps a copy of, the one the hardware really
    // walks: the mirror root of a VM with mirrored page tables ({@link VmCapabilities#mirroredPt}), and the direct
    // root too when the backend mediates it ({@link VmCapabilities#externalDirect}). Every change arrives decoded
    // ({@link SpteChange}, whose root says which), but installs, which come as the same fields one by one
    // (installExternalSpte). For the direct root, installs come as for the mirror (read lock,
    // entry frozen, BUSY retries); every other change (a leaf removed or its permissions changed, a huge leaf split
    // through splitExternalSpt, a table replaced by a leaf) is reported after the core made it, under the read or
    // the write lock, and cannot be refused: anything but OK bugs the VM. Accessed/dirty-bit changes are not
    // reported; a detached direct table is freed through freeExternalSpt, possibly under the read lock.

    /**
     * {@code set_external_spte(kvm, gfn, old_spte, new_spte, level)}: an entry of a backend-owned table changed.
     * Installs (old non-present, new present table or leaf: {@code link_external_spt} / {@code set_external_spte})
     * come under the MMU read lock with the core's entry frozen meanwhile; {@link HookStatus#BUSY} makes the core
     * restore the old value and retry the fault, an error bugs the VM. Leaf removals (old present leaf, new
     * non-present: {@code remove_external_spte}) come under the write lock, also bottom-up from a table being torn
     * down; they cannot be retried, so anything but OK bugs the VM.
     */
    default HookStatus setExternalSpte(SpteChange change) {
        return HookStatus.OK;
    }

    /**
     * {@link #setExternalSpte} of an install (the old entry non-present, the new one present), with the new entry's
     * fields one by one: the core calls this for every install, one or more per fault that maps, and a backend that
     * overrides it takes them without a {@link SpteChange} built per fault. Same lock, frozen entry and answers as
     * {@link #setExternalSpte}; an override must answer as that would for the same change. The default builds the
     * change and calls it.
     *
     * @param leaf a leaf at {@code level}, else a table entry pointing at {@code pfn}
     * @param readable the leaf's R bit; true for a table entry (which {@link SpteChange.Entry#table} does not keep)
     * @param writable the leaf's W bit; true for a table entry
     * @param executable the leaf's X bit; true for a table entry
     */
    default HookStatus installExternalSpte(RootKind root, long gfn, int level, boolean leaf, long pfn,
            boolean readable, boolean writable, boolean executable) {
        SpteChange.Entry after = leaf ? SpteChange.Entry.leaf(pfn, readable, writable, executable)
                : SpteChange.Entry.table(pfn);
        return setExternalSpte(new SpteChange(root, gfn, level, SpteChange.Entry.ABSENT, after));
    }

    /**
     * {@code remove_external_spte(kvm, gfn, level, pfn)}: {@link #setExternalSpte} of a leaf removal (the old entry a
     * present leaf mapping {@code pfn}, the new one non-present), with the old leaf's fields one by one: the core calls
     * this for every leaf it zaps from a backend-owned table — each page of a conversion, a hole punch or a teardown
     * — and a backend that overrides it takes them without a {@link SpteChange} built per page. Same lock and answers
     * as {@link #setExternalSpte}; an override must answer as that would for the same change. The default builds the
     * change and calls it.
     *
     * @param readable the old leaf's R bit
     * @param writable the old leaf's W bit
     * @param executable the old leaf's X bit
     * @since 4.9.0
     */
    default HookStatus removeExternalSpte(RootKind root, long gfn, int level, long pfn, boolean readable,
            boolean writable, boolean executable) {
        return setExternalSpte(new SpteChange(root, gfn, level,
                SpteChange.Entry.leaf(pfn, readable, writable, executable), SpteChange.Entry.ABSENT));
    }

    /**
     * {@code split_external_spt}: under the MMU write lock, the core replaces a present huge leaf of a
     * backend-owned table by a table of {@code 512} leaves one level down, with the same translation (pfn and
     * permissions) — before a partial conversion, a partial hole punch or when the backend asks for it
     * ({@link VmContext#splitCrossBoundaryLeafs}). {@code change.before()} is the huge leaf, {@code change.after()}
     * the new table entry. The backend splits its own copy the same way (no smaller leaf is reported one by one).
     * OK: the core links the table. {@link HookStatus#BUSY}: nothing changed, the core retries (a bounded number of
     * times, then the VM is bugged). An error bugs the VM. The default refuses: a backend whose tables hold only 4K
     * leaves is never asked.
     */
    default HookStatus splitExternalSpt(SpteChange change) {
        return HookStatus.error(Errno.ENOTSUP,
                "this backend cannot split the huge leaf at gfn 0x%x level %d", change.gfn(), change.level());
    }

    /**
     * {@code free_external_spt}: a detached table of a backend-owned root is being freed, after every leaf under it
     * was removed (write lock; for the direct root possibly the read lock). The kernel frees mirror tables only at
     * teardown. This is a notification, not a request: any status but OK bugs the VM ({@code KVM_BUG_ON}), so return
     * an error only for what is a bug of the model (the table still holds a leaf the backend knows of, say).
     */
    default HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
        return HookStatus.OK;
    }

    /**
     * {@code topup_external_cache(vcpu, min_nr_spts)} from {@code mmu_topup_memory_caches}: before a fault of vCPU
     * {@code vcpu} takes the MMU lock (a guest fault, a prefault, a populate), on a VM with mirrored tables
     * ({@link VmCapabilities#mirroredPt}), the backend fills the vCPU's own caches with what its install hooks may
     * need for up to {@code minTables} new tables and the page being mapped, so that they need not allocate under
     * the lock. It runs for every such fault, shared or private, with the vCPU's mutex held and no MMU lock. The
     * hooks that draw on the caches find their vCPU with {@link VmContext#runningVcpu}. An error fails the fault
     * with its errno and reason before anything changed (KVM_RUN or the ioctl returns it).
     */
    default HookStatus topUpExternalCache(int vcpu, int minTables) {
        return HookStatus.OK;
    }

    /**
     * {@code need_topup_external_per_vm_split_cache(kvm, level)}: asked with the MMU lock held for write, before the
     * core splits a huge leaf of {@code level} in a backend-owned table ({@link #splitExternalSpt}), whether the
     * backend's per-VM split cache lacks what that split will take. If so, the core lets go of the lock, calls
     * {@link #topUpExternalSplitCache}, takes the lock again and looks at the leaf anew; if not, nothing the split
     * takes may then be missing (the write lock keeps every other split out meanwhile).
     */
    default boolean needTopUpExternalSplitCache(int level) {
        return false;
    }

    /**
     * {@code topup_external_per_vm_split_cache(kvm, level)}: with no MMU lock held (and no vCPU's: splits need not
     * come from one), the backend fills its per-VM cache with what a split at {@code level} takes, so that its split
     * hook need not allocate under the write lock. The cache is the backend's to guard: another thread may split, or
     * top up, meanwhile. An error fails the split; the VM is bugged with its reason (the kernel's callers would
     * return it, ENOMEM, to the ioctl or KVM_RUN that asked for the split; the model splits inside its zaps).
     */
    default HookStatus topUpExternalSplitCache(int level) {
        return HookStatus.OK;
    }

    // ---- private memory ---------------------------------------------------------------------------------------

    /**
     * {@code kvm_arch_gmem_prepare}: a guest_memfd folio is first handed out for {@code gfn}. Called under the
     * folio's lock only, as in the kernel: faults on different folios may prepare theirs at once.
     */
    default void gmemPrepare(long pfn, long gfn, int order) {
    }

    /**
     * {@code kvm_arch_gmem_invalidate}: guest_memfd frees a folio, or — order 0, page by page — the punched pages
     * of a huge folio a partial hole punch keeps, before the host clears them ({@link #hostAccess}). The backend
     * gives the pages back to the host here. No MMU lock is held.
     */
    default void gmemInvalidate(long pfn, int order) {
    }

    /**
     * {@code gmem_max_mapping_level(kvm, pfn, is_private)}: the largest level a private leaf for {@code gfn},
     * backed by {@code pfn}, may have (1 = 4K); the core takes the smaller of this and its own limits.
     */
    default int privateMaxLevel(long gfn, long pfn) {
        return 3;
    }

    /**
     * {@code kvm_arch_pre_set_memory_attributes}: {@code KVM_SET_MEMORY_ATTRIBUTES} (or
     * {@link VmContext#setMemoryAttributes}) is about to make {@code [gfn, gfn + npages)} private or shared. Called
     * with {@code slots_lock} and the MMU write lock held, before anything of the range changed (before the zap of
     * the old kind); only for a range whose attributes really change. An error (or BUSY) refuses the change: the
     * ioctl fails with the status's errno and reason and nothing changed. The hook must not call back into the
     * {@link VmContext} (the locks are held).
     */
    default HookStatus preSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
        return HookStatus.OK;
    }

    /**
     * {@code kvm_arch_post_set_memory_attributes}: the attributes of {@code [gfn, gfn + npages)} are now
     * {@code toPrivate}; the old kind's mappings are gone. Called with {@code slots_lock} and the MMU write lock
     * held, before faults may map the range again. It cannot fail; it must not call back into the
     * {@link VmContext}.
     */
    default void postSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
    }

    // ---- hardware ---------------------------------------------------------------------------------------------

    /**
     * KVM's vendor check before it enters the guest ({@code kvm_x86_ops.vcpu_pre_run}): null when vCPU {@code vcpu}
     * may run, else why {@code KVM_RUN} fails with EINVAL, the VM unharmed (e.g. a VM whose initial image is not
     * finished). The core asks before a guest access that uses private memory, an accept and a conversion request;
     * accesses to shared memory run regardless, as they stand for the VMM writing the guest's image.
     */
    default String runRefusal(int vcpu) {
        return null;
    }

    /**
     * Whether the hardware enters the guest on vCPU {@code vcpu}: null when it does, else the
     * {@code KVM_EXIT_FAIL_ENTRY} exit the failed entry gives userspace ({@link Exit#failEntry} with the
     * hardware's {@code hardware_entry_failure_reason} and why), e.g. a VM whose initial vCPU state is not yet the
     * guest's. Unlike {@link #runRefusal}, {@code KVM_RUN} succeeds: the run ends at once in that exit, nothing of
     * the guest runs, the vCPU and the VM stay usable. Asked after {@link #runRefusal}, in the same places (guest
     * accesses that use private memory, accepts, conversion requests).
     *
     * @since 4.8.0
     */
    default Exit failEntry(int vcpu) {
        return null;
    }

    /**
     * The hardware translation of a private GPA when private memory is mapped by a table the backend owns (a
     * mirrored VM's hardware walks the backend's table, never KVM's mirror). {@link Walk#NOT_HANDLED} lets the
     * core walk its own root.
     */
    default long translatePrivate(int vcpu, long gfn, Access access) {
        return Walk.NOT_HANDLED;
    }

    /**
     * Checks after the nested walk translated {@code gfn} to {@code pfn} at {@code level} (e.g. reverse-map
     * checks). Returns the translation to use, or a violation / exception.
     */
    default long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
        return Walk.translated(pfn, level);
    }

    /**
     * The vendor's part of the violation exit handler that runs before KVM's fault handler, for a violation the
     * backend reported with extra error bits ({@link Walk#violation}); e.g. an exit that says the guest accepts at a
     * smaller size than KVM maps, which splits the mapping and inhibits huge pages there first. No MMU lock is held.
     * A trace records the bits with the fault, so a replay of the fault runs this again.
     */
    default void violationEntered(int vcpu, long gfn, long errorBits) {
    }

    /**
     * After KVM's fault handler fixed a violation the backend reported with extra error bits (e.g. a reverse-map
     * fault): the vendor's follow-up, such as splitting the reverse-map entry and zapping the huge range.
     */
    default void violationHandled(int vcpu, long gfn, long errorBits) {
    }

    /**
     * The host is about to access frame {@code pfn} (copying data in, clearing a page): the core calls it before it
     * writes a guest frame itself, e.g. when a partial hole punch zeroes the punched pages of a huge guest_memfd
     * folio (after {@link #gmemInvalidate} of those pages, so a backend that gives pages back to the host there
     * lets it). Refuse with an {@link MmuException} (errno and message) for a frame the host may not touch; the
     * operation then fails with it. No MMU lock is held.
     */
    default void hostAccess(long pfn, boolean write) {
    }


    // ---- guest protocols -------------------------------------------------------------------------------------

    /**
     * The guest accepts (validates) {@code gfn} at {@code level}. Returns a translated {@link Walk} when done, a
     * violation when the entry is missing (the core faults it in and the guest re-executes the accept), or an
     * exception / fatal outcome. The violation is taken at {@code gfn}, or at the GFN of the hook's last
     * {@link VmContext#nestedWalk} when it made one (a guest that retries a large accept page by page faults on the
     * page it was at).
     */
    default long accept(int vcpu, long gfn, int level) {
        throw new MmuException(Errno.ENOTSUP, "VM type has no guest acceptance");
    }

    /** The guest's own steps before asking for a conversion (e.g. rescinding validation before going shared). */
    default void convertBefore(int vcpu, long gfn, long npages, boolean toPrivate) {
    }

    /** The guest's own steps after the conversion was done (e.g. accepting the pages it made private). */
    default void convertAfter(int vcpu, long gfn, long npages, boolean toPrivate) {
    }

    // ---- lifecycle --------------------------------------------------------------------------------------------

    /** {@code vm_pre_destroy}: release the VM's key, after every private leaf is gone and before tables are freed. */
    default void releaseKey() {
    }

    /** {@code vm_destroy}: the last step of teardown, after the core freed its tables. */
    default void teardown() {
    }

    // ---- the rest ---------------------------------------------------------------------------------------------

    /**
     * Runs a verb this backend contributes ({@link Backend#verbs()}); the verb name is without namespace, the
     * arguments typed from its {@link VerbSpec}. Returns what it computed ({@link VerbResult#NONE} for nothing). A
     * verb that works through a range returns the part it leaves undone; when it fails after partial progress it
     * throws with the rest in {@link MmuException#withRemaining}, as KVM writes the leftover back also on failure.
     */
    default VerbResult invoke(String verb, VerbArgs args) {
        throw new MmuException(Errno.ENOTSUP, "no verb '%s'", verb);
    }

    /**
     * The backend's counters, named as the hardware names them; {@code Vm.stats()} shows them next to the core's. A
     * name the core counts itself ({@code pages_4k}, {@code remote_tlb_flush}, …) keeps the core's value: a
     * backend cannot overwrite it.
     */
    default Map<String, Long> stats() {
        return Map.of();
    }

    /** The backend's own invariants, checked against the core's state; one line per violation. */
    default List<String> check(MmuView view) {
        return List.of();
    }

    // ---- hot swap ---------------------------------------------------------------------------------------------

    /**
     * The state that must survive when this backend's service goes away while the VM lives (a bundle update, a
     * stop/start): plain data only — boxed primitives, {@code String}s, primitive arrays, and {@code List}s /
     * {@code Map<String, ?>}s of those — with the format version under {@link Backend#SNAPSHOT_VERSION}; a backend
     * with state keeps it as records and encodes them with {@link SnapshotCodec#encode}. The core
     * copies it and refuses anything else (no class of the departing bundle may cross over), then hands it to
     * {@link Backend#restore} of the next backend of the VM type. Called with no other hook of this VM running, and
     * no hook of this object is called afterwards. The default is a stateless backend: just the version 1.
     */
    default Map<String, Object> snapshot() {
        return Map.of(Backend.SNAPSHOT_VERSION, 1);
    }
}
