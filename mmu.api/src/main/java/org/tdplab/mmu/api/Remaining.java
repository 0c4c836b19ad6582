package org.tdplab.mmu.api;

/**
 * The part of a range an operation handed back undone when it stopped early, as KVM writes the leftover into its
 * ioctl's struct ({@code KVM_PRE_FAULT_MEMORY}, and the backends' populating verbs) so that a VMM can loop on it:
 * {@code [gpa, gpa + size)}, with {@code size} 0 when all was done.
 *
 * @param gpa where the rest begins (the range's end when all was done)
 * @param size bytes left undone
 */
public record Remaining(long gpa, long size) {
}
