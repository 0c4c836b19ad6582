package org.tdplab.mmu.api.backend;

import java.util.List;

/**
 * One {@code key=value} option of a {@link VerbSpec}, with the type its value must have. The scenario language
 * parses values of these types (numbers: decimal or {@code 0x} hex, binary suffixes {@code K M G T}, {@code |}
 * ORing parts) and reports a bad one with {@code EINVAL} naming it; the backend receives the value typed in
 * {@link VerbArgs}.
 *
 * @param key the option's key, e.g. {@code gpa}
 * @param type what the value is
 * @param required whether the statement must give it
 * @param choices for {@link Type#CHOICE}, the words it takes; for {@link Type#LEVEL}, the levels it takes as page
 *     sizes ({@code 4K}, {@code 2M}, {@code 1G}; empty: all three); empty otherwise
 */
public record VerbOption(String key, Type type, boolean required, List<String> choices) {
    /** The types of option values, and what {@link VerbArgs} holds for each. */
    public enum Type {
        /** an unsigned 64-bit number ({@code N}): a {@code Long} */
        NUMBER("N"),
        /** a size in bytes ({@code S}): a {@code Long} */
        SIZE("S"),
        /** a guest physical address ({@code A}): a {@code Long} */
        GPA("A"),
        /** a mapping level written as its page size ({@code 4K|2M|1G}): an {@code Integer}, 1 = 4K */
        LEVEL("4K|2M|1G"),
        /** {@code on} or {@code off}: a {@code Boolean} */
        BOOLEAN("on|off"),
        /** one word of {@link VerbOption#choices}: a {@code String} */
        CHOICE("WORD"),
        /** any word, kept as written: a {@code String} */
        TEXT("v"),
        /** a decimal fraction such as {@code 0.25}: a {@code Double} */
        DECIMAL("X.Y");

        private final String placeholder;

        Type(String placeholder) {
            this.placeholder = placeholder;
        }

        /** How usage lines show a value of this type when the option names no choices. */
        public String placeholder() {
            return placeholder;
        }

        /**
         * A value of this type written as text, for callers that take options as text ({@code vm.create}, a
         * trace): numbers are decimal or {@code 0x} hex with an optional binary suffix {@code K M G T}, and
         * {@code |} ORs parts; levels are written as page sizes.
         *
         * @param choices the words a {@link #CHOICE} takes or the page sizes a {@link #LEVEL} takes (empty: all)
         * @return a {@code Long}, {@code Integer}, {@code Boolean}, {@code Double} or {@code String}, as
         *     {@link VerbArgs} holds it
         * @throws IllegalArgumentException saying what the type takes, for any other text (a
         *     {@link NumberFormatException} naming the text for a bad number)
         */
        public Object parse(String text, List<String> choices) {
            String t = text == null ? "" : text;
            Object value = switch (this) {
            case NUMBER, SIZE, GPA -> OptionText.number(t);
            case LEVEL -> OptionText.level(t, choices);
            case BOOLEAN -> t.equals("on") ? Boolean.TRUE : t.equals("off") ? Boolean.FALSE : null;
            case CHOICE -> choices.contains(t) ? t : null;
            case TEXT -> t.isEmpty() ? null : t;
            case DECIMAL -> OptionText.decimal(t);
            };
            if (value == null)
                throw new IllegalArgumentException(describe(choices));
            return value;
        }

        /** What a value of this type is, for messages: {@code on or off}, {@code zap or bug}, … */
        public String describe(List<String> choices) {
            return switch (this) {
            case NUMBER, SIZE, GPA -> "a number (decimal or 0x hex, optional suffix K, M, G or T)";
            case LEVEL -> "a page size: " + OptionText.either(choices.isEmpty() ? OptionText.LEVELS : choices);
            case BOOLEAN -> "on or off";
            case CHOICE -> OptionText.either(choices);
            case TEXT -> "a word";
            case DECIMAL -> "a decimal number such as 0.25";
            };
        }
    }

    public VerbOption {
        choices = List.copyOf(choices);
    }

    /** A required option of {@code type}. */
    public static VerbOption required(String key, Type type) {
        return new VerbOption(key, type, true, List.of());
    }

    /** An optional option of {@code type}. */
    public static VerbOption optional(String key, Type type) {
        return new VerbOption(key, type, false, List.of());
    }

    /** This option, taking only {@code words} (a {@link Type#CHOICE}, or the levels of a {@link Type#LEVEL}). */
    public VerbOption of(String... words) {
        return new VerbOption(key, type, required, List.of(words));
    }
}
