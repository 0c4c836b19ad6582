package org.tdplab.mmu.api.backend;

import java.util.List;

/**
 * A {@code key=value} option a VM type takes at creation ({@code vm.create VM type=T key=value…}), with the type
 * its value must have. The core parses what a user wrote against the type's {@link Backend#options()} — an option
 * the type does not list, or a value its type refuses, fails {@code vm.create} with {@code EINVAL} naming it — and
 * hands the backend the values typed, in {@link VerbArgs} (read with its typed getters). Help, completion and the
 * reference documentation list these.
 *
 * @param key the option's key, e.g. {@code module}
 * @param type what the value is
 * @param choices for {@link VerbOption.Type#CHOICE}, the words it takes; for {@link VerbOption.Type#LEVEL}, the
 *     page sizes it takes (empty: all three); empty otherwise
 * @param summary one line: what it changes, and its default
 */
public record VmOption(String key, VerbOption.Type type, List<String> choices, String summary) {
    public VmOption {
        choices = List.copyOf(choices);
        if (type == VerbOption.Type.CHOICE && choices.isEmpty())
            throw new IllegalArgumentException("option '" + key + "' is a choice of no words");
    }

    /** An option of {@code type} (not a choice). */
    public static VmOption of(String key, VerbOption.Type type, String summary) {
        return new VmOption(key, type, List.of(), summary);
    }

    /** An option taking one of {@code words}. */
    public static VmOption choice(String key, String summary, String... words) {
        return new VmOption(key, VerbOption.Type.CHOICE, List.of(words), summary);
    }

    /** The values as users write them, for help: {@code 1.0|1.5}, {@code on|off}, {@code N}. */
    public String values() {
        return choices.isEmpty() ? type.placeholder() : String.join("|", choices);
    }

    /**
     * The value {@code text} as this option's type holds it.
     *
     * @throws IllegalArgumentException saying what the option takes
     */
    public Object parse(String text) {
        return type.parse(text, choices);
    }
}
