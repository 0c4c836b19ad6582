package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The shape of one statement form, for core and backend verbs alike:
 *
 * <pre>
 * Schema.verb("slot.add").positional("VM").positional("ID", ValueType.NUMBER)
 *       .required("gpa", ValueType.NUMBER, "A").required("size", ValueType.NUMBER, "S")
 *       .optional("flags", ValueType.listOf("gmem", "readonly", "dirty_log"))
 *       .optional("backing", ValueType.LEVEL).build();
 * </pre>
 *
 * A form is its verb, then fixed kind words ({@code expect exit mmio}), then positional arguments (the first bare
 * words), then options ({@code key=value}) and flags (bare words) in any order. Several forms may share a verb:
 * either they differ in their kind words (no form's words a prefix of another's), or they have the same words and
 * are told apart by a mode: a required word from a group ({@code read|write|exec}, {@code convert}, …) that may
 * stand anywhere among the flags; at most one of them has no mode and is taken when no mode word is written.
 * {@link #usage()} renders the form the way {@code SCENARIO.md} writes it, elements in declaration order.
 */
public final class Schema {
    /** A positional argument, e.g. {@code VM}. */
    public record Positional(String name, ValueType type) {
    }

    /** A {@code key=value} option. */
    public record Option(String key, ValueType type, String placeholder, boolean required) {
    }

    /**
     * Flags declared together: a single optional flag ({@code [measure]}), an optional exclusive group
     * ({@code [private|shared]}), a required exclusive group ({@code on|off}), or the form's mode.
     */
    public record FlagGroup(List<String> flags, boolean required, boolean mode) {
        /** Whether at most one of the flags may be written. */
        public boolean exclusive() {
            return flags.size() > 1;
        }

        @Override
        public String toString() {
            String s = String.join("|", flags);
            return required ? s : "[" + s + "]";
        }
    }

    private static final Pattern VERB = Pattern.compile("[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?");
    private static final Pattern KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_.\\-]*");
    private static final String FREE = "[k=v…]";

    private final String verb;
    private final List<String> words;
    private final List<Positional> positionals;
    private final Map<String, Option> options;
    private final List<FlagGroup> flagGroups;
    private final List<List<String>> together;
    private final boolean free;
    private final String usage;

    private Schema(Builder b) {
        this.verb = b.verb;
        this.words = List.copyOf(b.words);
        this.positionals = List.copyOf(b.positionals);
        this.options = Collections.unmodifiableMap(new LinkedHashMap<>(b.options));
        this.flagGroups = List.copyOf(b.flagGroups);
        this.together = List.copyOf(b.together);
        this.free = b.free;
        this.usage = b.render();
    }

    /** Starts a form of {@code verb} ({@code slot.add}, {@code expect}, {@code ns.verb}). */
    public static Builder verb(String verb) {
        return new Builder(verb);
    }

    /** The verb, e.g. {@code slot.add}, {@code guest}, {@code expect}. */
    public String verb() {
        return verb;
    }

    /** {@code NS} of an {@code NS.VERB}, else the empty string. */
    public String namespace() {
        int dot = verb.indexOf('.');
        return dot < 0 ? "" : verb.substring(0, dot);
    }

    /** The fixed kind words after the verb, e.g. {@code [exit, mmio]} for {@code expect exit mmio}. */
    public List<String> words() {
        return words;
    }

    /** The verb and its kind words, e.g. {@code expect exit mmio}; how error messages name the form. */
    public String name() {
        return words.isEmpty() ? verb : verb + " " + String.join(" ", words);
    }

    public List<Positional> positionals() {
        return positionals;
    }

    /** The declared options by key, in declaration order. */
    public Map<String, Option> options() {
        return options;
    }

    /** The declared flag groups in declaration order, the mode among them. */
    public List<FlagGroup> flagGroups() {
        return flagGroups;
    }

    /** The mode group, if this form has one. */
    public Optional<FlagGroup> mode() {
        return flagGroups.stream().filter(FlagGroup::mode).findFirst();
    }

    /** The mode words (empty without a mode). */
    public List<String> modes() {
        return mode().map(FlagGroup::flags).orElse(List.of());
    }

    /** Every flag word of this form, modes included. */
    public Set<String> flags() {
        Set<String> s = new LinkedHashSet<>();
        flagGroups.forEach(g -> s.addAll(g.flags()));
        return Collections.unmodifiableSet(s);
    }

    /** The group a flag belongs to. */
    public Optional<FlagGroup> groupOf(String flag) {
        return flagGroups.stream().filter(g -> g.flags().contains(flag)).findFirst();
    }

    /** Option keys that must be written all or none ({@code [gpa=A size=S]}). */
    public List<List<String>> together() {
        return together;
    }

    /** Whether undeclared {@code k=v} options are accepted (and kept as free text for a backend or workload). */
    public boolean allowsFreeOptions() {
        return free;
    }

    /** The form as {@code SCENARIO.md} writes it, e.g. {@code slot.delete VM ID}. */
    public String usage() {
        return usage;
    }

    @Override
    public String toString() {
        return usage;
    }

    /** Builds a {@link Schema}; elements render in usage lines in the order they are declared. */
    public static final class Builder {
        private final String verb;
        private final List<String> words = new ArrayList<>();
        private final List<Positional> positionals = new ArrayList<>();
        private final Map<String, Option> options = new LinkedHashMap<>();
        private final List<FlagGroup> flagGroups = new ArrayList<>();
        private final List<List<String>> together = new ArrayList<>();
        private final List<Object> elements = new ArrayList<>();
        private boolean free;

        private Builder(String verb) {
            if (verb == null || !VERB.matcher(verb).matches())
                throw new IllegalArgumentException("bad verb: " + verb);
            this.verb = verb;
        }

        /** A fixed kind word after the verb ({@code expect error}); all of them come before anything else. */
        public Builder word(String word) {
            if (!elements.isEmpty())
                throw new IllegalArgumentException(verb + ": kind words come first");
            if (word.isEmpty() || word.indexOf('=') >= 0 || word.indexOf(' ') >= 0)
                throw new IllegalArgumentException(verb + ": bad word " + word);
            words.add(word);
            return this;
        }

        /** A positional argument that is a name (e.g. {@code VM}). */
        public Builder positional(String name) {
            return positional(name, ValueType.NAME);
        }

        /** A positional argument of the given type; positionals come before options and flags. */
        public Builder positional(String name, ValueType type) {
            Objects.requireNonNull(type);
            if (elements.stream().anyMatch(e -> !(e instanceof Positional)))
                throw new IllegalArgumentException(verb + ": positionals come before options and flags");
            if (positionals.stream().anyMatch(p -> p.name().equals(name)))
                throw new IllegalArgumentException(verb + ": duplicate positional " + name);
            Positional p = new Positional(name, type);
            positionals.add(p);
            elements.add(p);
            return this;
        }

        /** A required option, shown as {@code key=PLACEHOLDER} with the type's placeholder. */
        public Builder required(String key, ValueType type) {
            return option(key, type, type.placeholder(), true);
        }

        /** A required option shown as {@code key=placeholder}. */
        public Builder required(String key, ValueType type, String placeholder) {
            return option(key, type, placeholder, true);
        }

        /** An optional option, shown as {@code [key=PLACEHOLDER]}. */
        public Builder optional(String key, ValueType type) {
            return option(key, type, type.placeholder(), false);
        }

        /** An optional option shown as {@code [key=placeholder]}. */
        public Builder optional(String key, ValueType type, String placeholder) {
            return option(key, type, placeholder, false);
        }

        private Builder option(String key, ValueType type, String placeholder, boolean required) {
            Objects.requireNonNull(type);
            if (!KEY.matcher(key).matches())
                throw new IllegalArgumentException(verb + ": bad option key " + key);
            if (options.containsKey(key))
                throw new IllegalArgumentException(verb + ": duplicate option " + key);
            Option o = new Option(key, type, placeholder, required);
            options.put(key, o);
            elements.add(o);
            return this;
        }

        /**
         * Optional options that must be written all together or not at all; they must be declared already and
         * consecutively, and render as one bracket ({@code [gpa=A size=S]}).
         */
        public Builder together(String... keys) {
            if (keys.length < 2)
                throw new IllegalArgumentException(verb + ": together needs two keys");
            for (String k : keys) {
                Option o = options.get(k);
                if (o == null || o.required())
                    throw new IllegalArgumentException(verb + ": together: " + k + " is not an optional option");
                if (together.stream().anyMatch(g -> g.contains(k)))
                    throw new IllegalArgumentException(verb + ": together: " + k + " already grouped");
            }
            together.add(List.copyOf(Arrays.asList(keys)));
            return this;
        }

        /** An optional flag of its own ({@code [measure]}). */
        public Builder flag(String flag) {
            return group(false, false, flag);
        }

        /** Exactly one of these flags must be written ({@code private|shared}). */
        public Builder choice(String... flags) {
            return group(true, false, flags);
        }

        /** At most one of these flags may be written ({@code [private|shared]}). */
        public Builder optionalChoice(String... flags) {
            return group(false, false, flags);
        }

        /**
         * The form's mode: exactly one of these words, which also tells this form from the other forms with the
         * same verb and kind words ({@code guest … read|write|exec …} / {@code guest … convert …}).
         */
        public Builder mode(String... flags) {
            if (flagGroups.stream().anyMatch(FlagGroup::mode))
                throw new IllegalArgumentException(verb + ": one mode per form");
            return group(true, true, flags);
        }

        private Builder group(boolean required, boolean mode, String... flags) {
            if (flags.length == 0)
                throw new IllegalArgumentException(verb + ": empty flag group");
            for (String f : flags) {
                if (f.isEmpty() || f.indexOf('=') >= 0 || f.indexOf(' ') >= 0)
                    throw new IllegalArgumentException(verb + ": bad flag " + f);
                if (flagGroups.stream().anyMatch(g -> g.flags().contains(f)))
                    throw new IllegalArgumentException(verb + ": duplicate flag " + f);
            }
            FlagGroup g = new FlagGroup(List.copyOf(Arrays.asList(flags)), required, mode);
            flagGroups.add(g);
            elements.add(g);
            return this;
        }

        /** Undeclared {@code k=v} options are accepted and kept as free text ({@code [k=v…]}). */
        public Builder freeOptions() {
            if (free)
                throw new IllegalArgumentException(verb + ": free options twice");
            free = true;
            elements.add(FREE);
            return this;
        }

        public Schema build() {
            return new Schema(this);
        }

        private String render() {
            StringBuilder sb = new StringBuilder(verb);
            for (String w : words)
                sb.append(' ').append(w);
            Set<String> done = new LinkedHashSet<>();
            for (Object e : elements) {
                String part;
                if (e instanceof Positional p) {
                    part = p.name();
                } else if (e instanceof Option o) {
                    if (done.contains(o.key()))
                        continue;
                    List<String> group = together.stream().filter(g -> g.contains(o.key())).findFirst()
                            .orElse(List.of(o.key()));
                    List<String> kv = new ArrayList<>();
                    for (String k : group) {
                        kv.add(k + "=" + options.get(k).placeholder());
                        done.add(k);
                    }
                    part = o.required() ? kv.get(0) : "[" + String.join(" ", kv) + "]";
                } else if (e instanceof FlagGroup g) {
                    part = g.toString();
                } else {
                    part = (String) e;
                }
                sb.append(' ').append(part);
            }
            return sb.toString();
        }
    }

    /** The forms of one verb must be told apart by kind words, else by modes. */
    static void checkForms(List<Schema> forms) {
        for (Schema a : forms)
            for (Schema b : forms) {
                if (a == b)
                    continue;
                List<String> wa = a.words(), wb = b.words();
                if (!wa.equals(wb) && wa.size() <= wb.size() && wb.subList(0, wa.size()).equals(wa))
                    throw new IllegalArgumentException("forms cannot be told apart: '" + a.usage() + "' / '"
                            + b.usage() + "'");
            }
        Map<List<String>, List<Schema>> byWords = new LinkedHashMap<>();
        forms.forEach(f -> byWords.computeIfAbsent(f.words(), k -> new ArrayList<>()).add(f));
        for (List<Schema> same : byWords.values()) {
            if (same.size() < 2)
                continue;
            Schema first = same.get(0);
            Set<String> modes = new LinkedHashSet<>();
            int plain = 0;
            for (Schema s : same) {
                if (!s.positionals().equals(first.positionals()))
                    throw new IllegalArgumentException("forms of " + s.name() + " differ in positionals: '"
                            + first.usage() + "' / '" + s.usage() + "'");
                if (s.modes().isEmpty())
                    plain++;
                for (String m : s.modes())
                    if (!modes.add(m))
                        throw new IllegalArgumentException("mode '" + m + "' of " + s.name() + " used twice");
            }
            if (plain > 1)
                throw new IllegalArgumentException("forms of " + first.name() + " without a mode: " + plain);
        }
    }
}
