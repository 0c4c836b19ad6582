package org.tdplab.mmu.scenario.run;

import java.util.List;
import java.util.Map;

/**
 * What {@code --html} draws of one VM at the end of a file, before its teardown: its memslots, the private/shared
 * ranges the scenario set, the level mapping each sampled region in each root, entries per level seen by the
 * walks, and its counters. Sampling is bounded: at most {@link #SAMPLES} lookups per memslot and root.
 */
public record VmPicture(String name, String type, List<Slot> slots, List<Attr> attrs, List<String> roots,
        Map<String, List<Region>> regions, Map<String, long[]> entriesPerLevel, Map<String, Long> counters) {
    public static final int SAMPLES = 256;
    public static final int MAX_SLOTS = 32;

    public record Slot(int id, long gpa, long size) {
    }

    /** A range the scenario set private or shared ({@code attr.set}, {@code guest … convert}), in order. */
    public record Attr(long gpa, long size, boolean isPrivate) {
    }

    /** A run of samples in one root mapped at {@code level} (0: not mapped). */
    public record Region(long gpa, long size, int level) {
    }
}
