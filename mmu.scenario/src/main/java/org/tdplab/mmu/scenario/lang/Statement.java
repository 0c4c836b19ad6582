package org.tdplab.mmu.scenario.lang;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;

/**
 * One parsed line: where it is, its verb (with kind words and mode), positional arguments, options and flags.
 * Names given to the typed accessors are a positional's name ({@code VM}, {@code ID}, {@code N}) or an option's key
 * ({@code gpa}); they throw {@link NoSuchElementException} for something not written and
 * {@link IllegalStateException} for a value of another kind, both runner bugs since the schema was checked.
 */
public final class Statement {
    private final String file;
    private final int line;
    private final int column;
    private final String source;
    private final Schema schema;
    private final String mode;
    private final List<Value> positionals;
    private final Map<String, Value> options;
    private final Set<String> flags;
    private final ExpectKind expectKind;
    private Statement subject; // set once by the parser before the script is published

    Statement(String file, int line, int column, String source, Schema schema, String mode, List<Value> positionals,
            Map<String, Value> options, Set<String> flags) {
        this.file = file;
        this.line = line;
        this.column = column;
        this.source = source;
        this.schema = schema;
        this.mode = mode;
        this.positionals = List.copyOf(positionals);
        this.options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
        this.flags = Collections.unmodifiableSet(new LinkedHashSet<>(flags));
        this.expectKind = schema.verb().equals("expect") ? ExpectKind.of(schema.words(), mode) : null;
    }

    void subject(Statement s) {
        this.subject = s;
    }

    public String file() {
        return file;
    }

    /** 1-based line. */
    public int line() {
        return line;
    }

    /** 1-based column of the verb. */
    public int column() {
        return column;
    }

    /** {@code FILE:LINE}, how reports locate the statement. */
    public String where() {
        return file + ":" + line;
    }

    /** The line as written, without its comment and surrounding blanks. */
    public String source() {
        return source;
    }

    /** The form this statement matched. */
    public Schema schema() {
        return schema;
    }

    /** The verb: {@code slot.add}, {@code guest}, {@code run}, {@code expect}, a backend's {@code ns.verb}, … */
    public String verb() {
        return schema.verb();
    }

    /** The kind words after the verb ({@code [exit, mmio]} for {@code expect exit mmio}), usually none. */
    public List<String> words() {
        return schema.words();
    }

    /** The mode word written ({@code read}, {@code convert}, {@code set}, …), or the empty string. */
    public String mode() {
        return mode;
    }

    /** Whether this is an {@code expect} line. */
    public boolean isExpectation() {
        return expectKind != null;
    }

    /**
     * The kind of an {@code expect} line.
     *
     * @throws IllegalStateException if this is not an expectation
     */
    public ExpectKind expectKind() {
        if (expectKind == null)
            throw new IllegalStateException(where() + ": not an expectation: " + source);
        return expectKind;
    }

    /**
     * For an expectation, the statement it follows (the last non-{@code expect} statement before it); empty for a
     * state expectation before any statement, and for a statement that is not an expectation.
     */
    public Optional<Statement> subject() {
        return Optional.ofNullable(subject);
    }

    /** The positional arguments in order. */
    public List<Value> positionals() {
        return positionals;
    }

    /** The positional argument called {@code name} ({@code VM}, {@code ID}, …). */
    public Value positional(String name) {
        List<Schema.Positional> ps = schema.positionals();
        for (int i = 0; i < ps.size(); i++)
            if (ps.get(i).name().equals(name))
                return positionals.get(i);
        throw new NoSuchElementException(where() + ": " + schema.name() + " has no positional " + name);
    }

    /** The VM name (positional {@code VM}). */
    public String vm() {
        return positional("VM").word();
    }

    /** Every option written, declared and free, by key in the order written. */
    public Map<String, Value> options() {
        return options;
    }

    /** The option {@code key}, if written. */
    public Optional<Value> option(String key) {
        return Optional.ofNullable(options.get(key));
    }

    /** Whether the option {@code key} was written. */
    public boolean hasOption(String key) {
        return options.containsKey(key);
    }

    /** The options the schema does not declare ({@code [k=v…]} of {@code vm.create} and {@code run}), as written. */
    public Map<String, String> extraOptions() {
        Map<String, String> m = new LinkedHashMap<>();
        options.forEach((k, v) -> {
            if (!schema.options().containsKey(k))
                m.put(k, v.text());
        });
        return Collections.unmodifiableMap(m);
    }

    /** The flags written (the mode word included), in the order written. */
    public Set<String> flags() {
        return flags;
    }

    /** Whether the flag (or mode word) {@code flag} was written. */
    public boolean has(String flag) {
        return flags.contains(flag);
    }

    /** Which of {@code group} was written ({@code choice("private", "shared")}), if any. */
    public Optional<String> choice(String... group) {
        for (String f : group)
            if (flags.contains(f))
                return Optional.of(f);
        return Optional.empty();
    }

    /** The positional or option {@code name}. */
    public Value value(String name) {
        Value v = options.get(name);
        if (v != null)
            return v;
        for (Schema.Positional p : schema.positionals())
            if (p.name().equals(name))
                return positional(name);
        throw new NoSuchElementException(where() + ": " + schema.name() + ": no " + name + " written");
    }

    /** The number {@code name}. */
    public long number(String name) {
        return value(name).number();
    }

    /** The number option {@code key}, or {@code otherwise} if not written. */
    public long optionalNumber(String key, long otherwise) {
        Value v = options.get(key);
        return v == null ? otherwise : v.number();
    }

    /** The word {@code name} (canonical spelling of a choice). */
    public String word(String name) {
        return value(name).word();
    }

    /** The word option {@code key}, or {@code otherwise} if not written. */
    public String optionalWord(String key, String otherwise) {
        Value v = options.get(key);
        return v == null ? otherwise : v.word();
    }

    /** The level {@code name}. */
    public Level level(String name) {
        return value(name).level();
    }

    /** The level option {@code key}, if written. */
    public Optional<Level> optionalLevel(String key) {
        return option(key).map(Value::level);
    }

    /** The items of the list option {@code key}; empty if not written. */
    public List<String> list(String key) {
        Value v = options.get(key);
        return v == null ? List.of() : v.list();
    }

    @Override
    public String toString() {
        return where() + ": " + source;
    }
}
