package org.tdplab.mmu.scenario.run;

import java.util.List;
import java.util.Map;

/**
 * What {@code --html} draws of one VM at the end of a file, before its teardown: its memslots, the private/shared
 * ranges its operation stream set, the exact mappings of each root as runs of equal state (at most {@link #RUNS}
 * runs per VM; past that, short runs are merged into {@link Region#MIXED} regions and a note says so), entries per
 * level, its counters (and which of them count firmware calls), and each region's history of SPTE changes and
 * firmware calls. A VM the file destroyed is drawn as it was just before, with the counters its teardown left.
 */
public record VmPicture(String name, String type, long sharedMask, List<Slot> slots, List<Attr> attrs,
        List<String> roots, Map<String, List<Region>> regions, Map<String, long[]> entriesPerLevel,
        Map<String, Long> counters, java.util.Set<String> firmwareCalls, RegionHistory.History history,
        List<String> notes) {
    /** The same picture with the VM's final counters and a note, for a VM destroyed after it was taken. */
    public VmPicture destroyed(Map<String, Long> finalCounters, java.util.Set<String> finalFirmware, String note) {
        List<String> n = new java.util.ArrayList<>(notes);
        n.add(note);
        return new VmPicture(name, type, sharedMask, slots, attrs, roots, regions, entriesPerLevel,
                new java.util.TreeMap<>(finalCounters), finalFirmware, history, n);
    }

    /** Runs drawn per VM at most, over all its lanes. */
    public static final int RUNS = 20_000;
    public static final int MAX_SLOTS = 32;

    public record Slot(int id, long gpa, long size) {
    }

    /** A range the VM's operation stream set private or shared, in order. */
    public record Attr(long gpa, long size, boolean isPrivate) {
    }

    /** A run of a root's GPA space mapped at {@code level} (0: not mapped; {@link #MIXED}: several states). */
    public record Region(long gpa, long size, int level) {
        public static final int MIXED = -1;
    }
}
