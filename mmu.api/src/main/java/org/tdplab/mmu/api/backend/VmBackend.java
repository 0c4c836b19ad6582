package org.tdplab.mmu.api.backend;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.osgi.annotation.versioning.ConsumerType;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * A backend's side of one VM: the hooks the vendor-neutral core calls. Every method has the kernel behaviour it
 * models in its comment; the defaults are what an ordinary VM does (nothing). Hooks that the kernel calls under
 * {@code mmu_lock} are called under the model's MMU lock in the same mode.
 */
@ConsumerType
public interface VmBackend {
    // ---- mirror page tables (called only when the VM has mirrored page tables) ------------------------------

    /**
     * A mirror SPTE changed: the in-flight {@code set_external_spte(kvm, gfn, old, new, level)} shape, covering
     * the merged {@code link_external_spt} (old non-present, new present non-leaf), {@code set_external_spte}
     * (old non-present, new present leaf; read lock, entry FROZEN meanwhile) and {@code remove_external_spte}
     * (old present leaf, new non-present; write lock). {@link HookStatus#BUSY} makes the core restore the old value
     * and retry; {@link HookStatus#ERROR} bugs the VM.
     */
    default HookStatus mirrorSpteChanged(long gfn, int level, long oldSpte, long newSpte) {
        return HookStatus.OK;
    }

    /**
     * A detached mirror table is being freed, after every leaf under it was removed ({@code free_external_spt}).
     * The kernel calls it only at teardown; a backend may refuse while its key is assigned (ERROR bugs the VM).
     */
    default HookStatus mirrorTableFreed(long gfn, int level) {
        return HookStatus.OK;
    }

    // ---- private memory ---------------------------------------------------------------------------------------

    /** {@code kvm_arch_gmem_prepare}: a guest_memfd folio is first handed out for {@code gfn}. */
    default void gmemPrepare(long pfn, long gfn, int order) {
    }

    /** {@code kvm_arch_gmem_invalidate}: guest_memfd frees a folio. */
    default void gmemInvalidate(long pfn, int order) {
    }

    /** {@code gmem_max_mapping_level}: the largest level a private leaf of {@code pfn} may have. */
    default int privateMaxLevel(long pfn) {
        return 3;
    }

    // ---- hardware ---------------------------------------------------------------------------------------------

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
     * After KVM's fault handler fixed a violation the backend reported with extra error bits (e.g. a reverse-map
     * fault): the vendor's follow-up, such as splitting the reverse-map entry and zapping the huge range.
     */
    default void violationHandled(int vcpu, long gfn, long errorBits) {
    }

    /** A host access to a frame (copying data in, clearing a page). Refuse with an exception for guest frames. */
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

    /** Runs a verb this backend contributes ({@link Backend#verbs()}); the verb name is without namespace. */
    default void invoke(String verb, Map<String, String> options, Set<String> flags) {
        throw new MmuException(Errno.ENOTSUP, "no verb '%s'", verb);
    }

    /** The backend's counters, named as the hardware names them. */
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
     * {@code Map<String, ?>}s of those — with the format version under {@link Backend#SNAPSHOT_VERSION}. The core
     * copies it and refuses anything else (no class of the departing bundle may cross over), then hands it to
     * {@link Backend#restore} of the next backend of the VM type. Called with no other hook of this VM running, and
     * no hook of this object is called afterwards. The default is a stateless backend: just the version 1.
     */
    default Map<String, Object> snapshot() {
        return Map.of(Backend.SNAPSHOT_VERSION, 1);
    }
}
