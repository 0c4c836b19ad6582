package org.tdplab.mmu.api.backend;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

import org.tdplab.mmu.api.Remaining;

/**
 * What a backend verb returns to its caller: named values (e.g. {@link #COUNT}, a measurement) and, for a verb
 * that works through a range and may stop early, the part it hands back undone, as KVM writes the leftover into
 * the ioctl's struct (size 0: all done). A verb that fails after partial progress hands the rest back with
 * {@link org.tdplab.mmu.api.MmuException#withRemaining} instead.
 *
 * @param values named results, in the order the verb set them
 * @param remaining the range handed back undone, if the verb hands one back
 */
public record VerbResult(Map<String, Long> values, Optional<Remaining> remaining) {
    /** The name of the count a verb returns (what {@code expect result N} compares). */
    public static final String COUNT = "count";

    /** A verb that returns nothing. */
    public static final VerbResult NONE = new VerbResult(Map.of(), Optional.empty());

    public VerbResult {
        values = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** A verb that returns a count. */
    public static VerbResult count(long n) {
        return NONE.with(COUNT, n);
    }

    /** A verb that handed back {@code [gpa, gpa + size)} undone. */
    public static VerbResult handedBack(long gpa, long size) {
        return new VerbResult(Map.of(), Optional.of(new Remaining(gpa, size)));
    }

    /** This result and the value {@code name}. */
    public VerbResult with(String name, long value) {
        Map<String, Long> m = new LinkedHashMap<>(values);
        m.put(name, value);
        return new VerbResult(m, remaining);
    }

    /** The value {@code name}, if the verb returned it. */
    public OptionalLong value(String name) {
        Long v = values.get(name);
        return v == null ? OptionalLong.empty() : OptionalLong.of(v);
    }

    /** The {@link #COUNT}, if the verb returned one. */
    public OptionalLong count() {
        return value(COUNT);
    }
}
