package org.tdplab.mmu.api;

/**
 * Options of enabling dirty logging on a slot.
 *
 * @param eagerSplit split huge pages when logging starts ({@code eager_page_split})
 * @param initiallySet {@code KVM_DIRTY_LOG_INITIALLY_SET} with manual protect: write-protect lazily at the first clear
 */
public record DirtyLogOptions(boolean eagerSplit, boolean initiallySet) {
    public static final DirtyLogOptions DEFAULT = new DirtyLogOptions(true, false);
}
