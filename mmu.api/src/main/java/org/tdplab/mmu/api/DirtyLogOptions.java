package org.tdplab.mmu.api;

/**
 * Options of enabling dirty logging on a slot.
 *
 * @param eagerSplit split huge pages when logging starts ({@code eager_page_split})
 * @param initiallySet {@code KVM_DIRTY_LOG_INITIALLY_SET}: the log starts with every bit set and pages are
 *     write-protected lazily, at each {@code KVM_CLEAR_DIRTY_LOG}; KVM takes it only with manual protect
 *     ({@code EINVAL} otherwise)
 * @param manualProtect {@code KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2} ({@code KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE}):
 *     {@code KVM_GET_DIRTY_LOG} neither clears nor protects, {@code KVM_CLEAR_DIRTY_LOG} does
 */
public record DirtyLogOptions(boolean eagerSplit, boolean initiallySet, boolean manualProtect) {
    public static final DirtyLogOptions DEFAULT = new DirtyLogOptions(true, false, false);

    /** Manual protect exactly when the log is initially set: the two modes before manual protect alone was one. */
    public DirtyLogOptions(boolean eagerSplit, boolean initiallySet) {
        this(eagerSplit, initiallySet, initiallySet);
    }
}
