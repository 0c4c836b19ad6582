package org.tdplab.mmu.scenario.lang;

import java.util.Arrays;
import java.util.List;

/** A positional argument or option value as written and as parsed, with where it was written. */
public final class Value {
    private final String text;
    private final ValueType type;
    private final int line;
    private final int column;
    private final Object parsed;

    Value(String text, ValueType type, int line, int column, Object parsed) {
        this.text = text;
        this.type = type;
        this.line = line;
        this.column = column;
        this.parsed = parsed;
    }

    /** The value as parsed: a {@code Long}, a {@link Level}, a {@code String} or a list of them. */
    public Object parsed() {
        return parsed;
    }

    /** The value as written (for an option: the part after {@code =}). */
    public String text() {
        return text;
    }

    public ValueType type() {
        return type;
    }

    public int line() {
        return line;
    }

    /** 1-based column of the token that holds this value (for an option, of its {@code key=}). */
    public int column() {
        return column;
    }

    /**
     * The number. For a free (TEXT) value the text is parsed now.
     *
     * @throws IllegalStateException if this is not a number
     */
    public long number() {
        if (parsed instanceof Long l)
            return l;
        if (type.kind() == ValueType.Kind.TEXT) {
            try {
                return Numbers.parse(text);
            } catch (NumberFormatException e) {
                throw new IllegalStateException(e.getMessage());
            }
        }
        throw new IllegalStateException("not a number: '" + text + "'");
    }

    /** The word: a name, a word, a free text, or the canonical spelling of a choice (e.g. {@code =} for {@code ==}). */
    public String word() {
        return parsed instanceof String s ? s : text;
    }

    /**
     * The level.
     *
     * @throws IllegalStateException if this is not a level
     */
    public Level level() {
        if (parsed instanceof Level l)
            return l;
        if (type.kind() == ValueType.Kind.TEXT) {
            try {
                return Level.ofBytes(Numbers.parse(text)).orElseThrow();
            } catch (RuntimeException e) {
                throw new IllegalStateException("not a level: '" + text + "'");
            }
        }
        throw new IllegalStateException("not a level: '" + text + "'");
    }

    /** The items of a comma list (a free value is split at commas; anything else is a list of one). */
    @SuppressWarnings("unchecked")
    public List<String> list() {
        if (parsed instanceof List<?> l)
            return (List<String>) l;
        if (type.kind() == ValueType.Kind.TEXT)
            return List.copyOf(Arrays.asList(text.split(",")));
        return List.of(word());
    }

    @Override
    public String toString() {
        return text;
    }
}
