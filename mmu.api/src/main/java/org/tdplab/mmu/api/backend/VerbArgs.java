package org.tdplab.mmu.api.backend;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The typed arguments of one backend verb, parsed by the caller (the scenario language) from the verb's
 * {@link VerbSpec}, or of one VM's creation, parsed by the core from the type's {@link Backend#options()}: each
 * option's value is a {@code Long} ({@link VerbOption.Type#NUMBER NUMBER}, {@code SIZE}, {@code GPA}), an
 * {@code Integer} level ({@code LEVEL}, 1 = 4K), a {@code Boolean} ({@code BOOLEAN}), a {@code Double}
 * ({@code DECIMAL}) or a {@code String} ({@code CHOICE}, {@code TEXT}). Backends read them with the typed getters
 * and never parse text.
 *
 * @param verb the verb without namespace, or {@code vm.create type=T} for creation options, for messages
 * @param values the options given, by key
 * @param flags the bare words given, in the order written
 */
public record VerbArgs(String verb, Map<String, Object> values, Set<String> flags) {
    public VerbArgs {
        values = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
        flags = java.util.Collections.unmodifiableSet(new java.util.LinkedHashSet<>(flags));
    }

    /**
     * The creation options of a VM of type {@code vmType} written as text ({@code vm.create}'s {@code key=value}, a
     * configuration's properties), typed against the options the type declares: how the core hands them to the
     * backend, and how a backend reads a configuration in the same syntax.
     *
     * @throws MmuException {@code EINVAL} naming an option the type does not declare, or a value its option's type
     *     refuses (and what it takes)
     */
    public static VerbArgs creation(String vmType, List<VmOption> declared, Map<String, String> text) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : text.entrySet()) {
            VmOption o = declared.stream().filter(d -> d.key().equals(e.getKey())).findFirst().orElse(null);
            if (o == null) {
                Set<String> known = new TreeSet<>();
                declared.forEach(d -> known.add(d.key()));
                throw new MmuException(Errno.EINVAL, "option '%s' is not known to VM type %s; known: %s", e.getKey(),
                        vmType, known.isEmpty() ? "none" : String.join(", ", known));
            }
            try {
                values.put(e.getKey(), o.parse(e.getValue()));
            } catch (IllegalArgumentException x) {
                throw new MmuException(Errno.EINVAL, "%s=%s: VM type %s takes %s", e.getKey(), e.getValue(), vmType,
                        o.type().describe(o.choices()));
            }
        }
        return new VerbArgs(creationVerb(vmType), values, Set.of());
    }

    /** The creation options of a VM created with none. */
    public static VerbArgs noOptions(String vmType) {
        return none(creationVerb(vmType));
    }

    private static String creationVerb(String vmType) {
        return "vm.create type=" + vmType;
    }

    /** A verb called without options or flags. */
    public static VerbArgs none(String verb) {
        return new VerbArgs(verb, Map.of(), Set.of());
    }

    /** These arguments and {@code key=value} (a {@code Long}, {@code Integer}, {@code Boolean} or {@code String}). */
    public VerbArgs with(String key, Object value) {
        Map<String, Object> m = new LinkedHashMap<>(values);
        m.put(key, value);
        return new VerbArgs(verb, m, flags);
    }

    /** These arguments and the bare word {@code flag}. */
    public VerbArgs withFlag(String flag) {
        Set<String> f = new java.util.LinkedHashSet<>(flags);
        f.add(flag);
        return new VerbArgs(verb, values, f);
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    public boolean flag(String flag) {
        return flags.contains(flag);
    }

    /** A required number, size or address. */
    public long number(String key) {
        return typed(key, Long.class, "a number");
    }

    /** A number, size or address, or {@code otherwise} when not given. */
    public long number(String key, long otherwise) {
        return has(key) ? number(key) : otherwise;
    }

    /** A level (1 = 4K, 2 = 2M, 3 = 1G), or {@code otherwise} when not given. */
    public int level(String key, int otherwise) {
        return has(key) ? typed(key, Integer.class, "a level") : otherwise;
    }

    /** An {@code on|off} value, or {@code otherwise} when not given. */
    public boolean bool(String key, boolean otherwise) {
        return has(key) ? typed(key, Boolean.class, "on or off") : otherwise;
    }

    /** A decimal number, or {@code otherwise} when not given. */
    public double decimal(String key, double otherwise) {
        return has(key) ? typed(key, Double.class, "a decimal number") : otherwise;
    }

    /** A word (choice or text), or {@code otherwise} when not given. */
    public String word(String key, String otherwise) {
        return has(key) ? typed(key, String.class, "a word") : otherwise;
    }

    private <T> T typed(String key, Class<T> type, String what) {
        Object v = values.get(key);
        if (v == null)
            throw new MmuException(Errno.EINVAL, "%s needs %s=", verb, key);
        if (!type.isInstance(v))
            throw new MmuException(Errno.EINVAL, "%s: %s=%s is not %s", verb, key, v, what);
        return type.cast(v);
    }

    /**
     * Checks these arguments against the verb's spec, for callers that bypass the scenario language: every required
     * option given, no option or flag the verb lacks, each value of its option's type (and among its choices).
     *
     * @return these arguments
     * @throws MmuException {@code EINVAL} naming the option, flag or value
     */
    public VerbArgs checkedAgainst(VerbSpec spec) {
        for (VerbOption o : spec.options())
            if (o.required() && !has(o.key()))
                throw new MmuException(Errno.EINVAL, "%s: missing %s=", spec.name(), o.key());
        for (Map.Entry<String, Object> e : values.entrySet()) {
            VerbOption o = spec.option(e.getKey());
            if (o == null)
                throw new MmuException(Errno.EINVAL, "%s: unknown option '%s'", spec.name(), e.getKey());
            Object v = e.getValue();
            boolean ok = switch (o.type()) {
            case NUMBER, SIZE, GPA -> v instanceof Long;
            case LEVEL -> v instanceof Integer l && l >= 1 && l <= 3
                    && (o.choices().isEmpty() || o.choices().contains(LEVEL_NAMES[l - 1]));
            case BOOLEAN -> v instanceof Boolean;
            case CHOICE -> v instanceof String s && o.choices().contains(s);
            case TEXT -> v instanceof String s && !s.isEmpty();
            case DECIMAL -> v instanceof Double d && Double.isFinite(d);
            };
            if (!ok)
                throw new MmuException(Errno.EINVAL, "%s: bad value %s=%s (%s)", spec.name(), e.getKey(), v,
                        o.choices().isEmpty() ? o.type().placeholder() : String.join("|", o.choices()));
        }
        for (String f : flags)
            if (!spec.flags().contains(f))
                throw new MmuException(Errno.EINVAL, "%s: unknown flag '%s'%s", spec.name(), f,
                        spec.flags().isEmpty() ? ""
                                : " (known: " + String.join(", ", new TreeSet<>(spec.flags())) + ")");
        return this;
    }

    /** The page sizes of levels 1, 2, 3 as the language writes them. */
    private static final String[] LEVEL_NAMES = { "4K", "2M", "1G" };
}
