package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.tdplab.mmu.api.backend.VerbOption;

/**
 * What a positional argument or option value may be. Immutable; the constants and factories cover every value
 * the language has.
 */
public final class ValueType {
    /** The families of values. */
    public enum Kind {
        /** an unsigned 64-bit number, see {@link Numbers} */
        NUMBER,
        /** a name such as a VM's: letters, digits, {@code _ . -}, not starting with {@code . -} */
        NAME,
        /** any word without {@code =} or {@code ,} (a VM type, a stat name) */
        WORD,
        /** anything non-empty, kept as written (free {@code k=v} values that go to a backend or workload) */
        TEXT,
        /** a page size that is a mapping level: {@code 4K}, {@code 2M}, {@code 1G} */
        LEVEL,
        /** one word of a fixed set */
        CHOICE,
        /** a comma list of words, each of a fixed set unless the set is empty */
        LIST,
        /** a decimal number such as {@code 0.25} (a backend's {@code DECIMAL} option) */
        DECIMAL
    }

    private static final Pattern NAME_PATTERN = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.\\-]*");

    public static final ValueType NUMBER = new ValueType(Kind.NUMBER, List.of(), Map.of(), List.of(), "N");
    public static final ValueType NAME = new ValueType(Kind.NAME, List.of(), Map.of(), List.of(), "NAME");
    public static final ValueType WORD = new ValueType(Kind.WORD, List.of(), Map.of(), List.of(), "WORD");
    public static final ValueType TEXT = new ValueType(Kind.TEXT, List.of(), Map.of(), List.of(), "v");
    public static final ValueType DECIMAL = new ValueType(Kind.DECIMAL, List.of(), Map.of(), List.of(),
            VerbOption.Type.DECIMAL.placeholder());
    /** Any of {@code 4K}, {@code 2M}, {@code 1G}. */
    public static final ValueType LEVEL = levels(Level.values());
    /** A comma list of any words. */
    public static final ValueType LIST = listOf();

    private final Kind kind;
    private final List<String> choices;
    private final Map<String, String> aliases;
    private final List<Level> levels;
    private final String placeholder;

    private ValueType(Kind kind, List<String> choices, Map<String, String> aliases, List<Level> levels,
            String placeholder) {
        this.kind = kind;
        this.choices = choices;
        this.aliases = aliases;
        this.levels = levels;
        this.placeholder = placeholder;
    }

    /** A level among {@code allowed}. */
    public static ValueType levels(Level... allowed) {
        if (allowed.length == 0)
            throw new IllegalArgumentException("no levels");
        List<Level> ls = List.copyOf(Arrays.asList(allowed));
        List<String> names = ls.stream().map(Level::toString).toList();
        return new ValueType(Kind.LEVEL, names, Map.of(), ls, String.join("|", names));
    }

    /** One word of {@code choices}. */
    public static ValueType oneOf(String... choices) {
        if (choices.length == 0)
            throw new IllegalArgumentException("no choices");
        List<String> cs = List.copyOf(Arrays.asList(choices));
        return new ValueType(Kind.CHOICE, cs, Map.of(), List.of(), String.join("|", cs));
    }

    /** A comma list of words of {@code allowed} (any words if none are given). */
    public static ValueType listOf(String... allowed) {
        List<String> cs = List.copyOf(Arrays.asList(allowed));
        return new ValueType(Kind.LIST, cs, Map.of(), List.of(), cs.isEmpty() ? "a,b,…" : String.join(",", cs));
    }

    /** This type, also accepting {@code alias} as another spelling of the choice {@code canonical}. */
    public ValueType alias(String alias, String canonical) {
        if (kind != Kind.CHOICE || !choices.contains(canonical))
            throw new IllegalArgumentException("alias of an unknown choice: " + canonical);
        Map<String, String> as = new LinkedHashMap<>(aliases);
        as.put(alias, canonical);
        return new ValueType(kind, choices, Collections.unmodifiableMap(as), levels, placeholder);
    }

    /** This type with another placeholder in usage lines (e.g. {@code A} for an address). */
    public ValueType placeholder(String text) {
        return new ValueType(kind, choices, aliases, levels, text);
    }

    public Kind kind() {
        return kind;
    }

    /** The allowed words of a CHOICE or LIST (empty: any), the level names of a LEVEL. */
    public List<String> choices() {
        return choices;
    }

    /** The allowed levels of a LEVEL. */
    public List<Level> allowedLevels() {
        return levels;
    }

    /** How usage lines show a value of this type, e.g. {@code N}, {@code 4K|2M|1G}, {@code on|off}. */
    public String placeholder() {
        return placeholder;
    }

    @Override
    public String toString() {
        return kind + "(" + placeholder + ")";
    }

    /**
     * Parses {@code text} as a value written nowhere in particular (a trace's option, say).
     *
     * @throws IllegalArgumentException with the reason
     */
    public Value parse(String text) {
        return parse(text, 0, 0);
    }

    /**
     * Parses {@code text} into a value.
     *
     * @throws IllegalArgumentException with the reason (without location)
     */
    Value parse(String text, int line, int column) {
        if (text.isEmpty())
            throw new IllegalArgumentException("empty value");
        switch (kind) {
        case NUMBER:
            try {
                return new Value(text, this, line, column, Numbers.parse(text));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(e.getMessage());
            }
        case NAME:
            if (!NAME_PATTERN.matcher(text).matches())
                throw new IllegalArgumentException("bad name '" + text + "' (letters, digits, '_', '.', '-')");
            return new Value(text, this, line, column, text);
        case WORD:
            if (text.indexOf('=') >= 0 || text.indexOf(',') >= 0)
                throw new IllegalArgumentException("bad word '" + text + "'");
            return new Value(text, this, line, column, text);
        case TEXT:
            return new Value(text, this, line, column, text);
        case DECIMAL:
            try {
                return new Value(text, this, line, column, VerbOption.Type.DECIMAL.parse(text, List.of()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bad value '" + text + "' (" + e.getMessage() + ")");
            }
        case LEVEL: {
            long bytes;
            try {
                bytes = Numbers.parse(text);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad level '" + text + "' (" + oneOfText(choices) + ")");
            }
            Level l = Level.ofBytes(bytes).orElse(null);
            if (l == null || !levels.contains(l))
                throw new IllegalArgumentException("bad level '" + text + "' (" + oneOfText(choices)
                        + (bytes < 4096 ? "; a level is written as its page size" : "") + ")");
            return new Value(text, this, line, column, l);
        }
        case CHOICE: {
            String c = aliases.getOrDefault(text, text);
            if (!choices.contains(c))
                throw new IllegalArgumentException("bad value '" + text + "' (" + oneOfText(choices) + ")");
            return new Value(text, this, line, column, c);
        }
        case LIST: {
            List<String> items = new ArrayList<>();
            for (String item : text.split(",", -1)) {
                if (item.isEmpty())
                    throw new IllegalArgumentException("bad list '" + text + "' (empty item)");
                if (!choices.isEmpty() && !choices.contains(item))
                    throw new IllegalArgumentException("unknown item '" + item + "' (" + oneOfText(choices) + ")");
                if (choices.isEmpty() && item.indexOf('=') >= 0)
                    throw new IllegalArgumentException("bad item '" + item + "'");
                items.add(item);
            }
            return new Value(text, this, line, column, List.copyOf(items));
        }
        default:
            throw new AssertionError(kind);
        }
    }

    static String oneOfText(List<String> words) {
        if (words.size() == 1)
            return words.get(0);
        if (words.size() == 2)
            return words.get(0) + " or " + words.get(1);
        return String.join(", ", words.subList(0, words.size() - 1)) + " or " + words.get(words.size() - 1);
    }
}
