package org.tdplab.mmu.scenario.run;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;

import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.scenario.lang.Level;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Schema;
import org.tdplab.mmu.scenario.lang.Statement;
import org.tdplab.mmu.scenario.lang.Value;
import org.tdplab.mmu.scenario.lang.ValueType;
import org.tdplab.mmu.scenario.lang.VerbCatalog;

/**
 * The verbs the discovered backends contribute, as statement forms: {@code NS.VERB VM key=V… [flag…]}, each option
 * of the type its {@link VerbSpec} declares, and the typed {@link VerbArgs} a parsed statement gives the backend. A
 * backend that lands later is picked up by the next run without any change here.
 */
public final class BackendVerbs {
    private BackendVerbs() {
    }

    /**
     * A parser of the core language, every usable backend verb and the exception names the backends declare. A verb the
     * language cannot take (it redefines a core verb, say) is left out with a warning, so one bad backend does not stop
     * every scenario.
     */
    static Parser parser(List<VerbSpec> specs, Set<String> exceptions, PrintStream warnings) {
        List<Schema> all = new ArrayList<>();
        try {
            for (VerbSpec spec : specs)
                all.add(schema(spec));
            return new Parser(VerbCatalog.of(all, Set.of()).withExceptions(exceptions)); // the usual case: one build
        } catch (IllegalArgumentException | StringIndexOutOfBoundsException e) {
            // some verb cannot be taken: find which, one at a time
        }
        List<Schema> usable = new ArrayList<>();
        for (VerbSpec spec : specs) {
            try {
                Schema s = schema(spec);
                List<Schema> with = new ArrayList<>(usable);
                with.add(s);
                new Parser(VerbCatalog.of(with, Set.of()));
                usable.add(s);
            } catch (IllegalArgumentException | StringIndexOutOfBoundsException e) {
                boolean taken = usable.stream().anyMatch(u -> u.verb().equals(spec.name()));
                warnings.println("tdplab: ignoring backend verb '" + spec.name() + "': " + (taken ? "another backend "
                        + "declares it already (name a backend's verbs TYPE.VERB, after its own VM type)"
                        : e.getMessage()));
            }
        }
        return new Parser(VerbCatalog.of(usable, Set.of()).withExceptions(exceptions));
    }

    /** The statement form of a backend verb, e.g. {@code tdx.finalize VM}: each option of its declared type. */
    public static Schema schema(VerbSpec spec) {
        Schema.Builder b = Schema.verb(spec.name()).positional("VM");
        for (VerbOption o : spec.options()) {
            if (o.required())
                b.required(o.key(), type(o), placeholder(o));
            else
                b.optional(o.key(), type(o), placeholder(o));
        }
        spec.flags().forEach(b::flag);
        return b.build();
    }

    /** The language's type of a verb option: the one parser of numbers, levels and words. */
    static ValueType type(VerbOption o) {
        return switch (o.type()) {
        case NUMBER, SIZE, GPA -> ValueType.NUMBER;
        case LEVEL -> o.choices().isEmpty() ? ValueType.LEVEL
                : ValueType.levels(o.choices().stream().map(BackendVerbs::level).toArray(Level[]::new));
        case BOOLEAN -> ValueType.oneOf("on", "off");
        case CHOICE -> ValueType.oneOf(o.choices().toArray(String[]::new));
        case TEXT -> ValueType.TEXT;
        case DECIMAL -> ValueType.DECIMAL;
        };
    }

    private static Level level(String name) {
        for (Level l : Level.values())
            if (l.toString().equals(name))
                return l;
        throw new IllegalArgumentException("no level '" + name + "' (4K, 2M or 1G)");
    }

    /** The contract's placeholders: {@code gpa=A size=S}, any other number {@code N}, a type's words. */
    private static String placeholder(VerbOption o) {
        return switch (o.type()) {
        case NUMBER, SIZE, GPA -> o.type().placeholder();
        default -> type(o).placeholder();
        };
    }

    /** The typed arguments of a parsed backend statement. */
    static VerbArgs args(VerbSpec spec, Statement s) {
        Map<String, Object> values = new LinkedHashMap<>();
        s.options().forEach((k, v) -> values.put(k, typed(spec.option(k), v)));
        return new VerbArgs(verbOf(spec), values, s.flags());
    }

    /**
     * The typed arguments of a verb written as text ({@code key=value} as a trace records them), parsed by the
     * language's own types.
     *
     * @throws MmuException {@code EINVAL} naming an option the verb lacks or a value its type refuses
     */
    public static VerbArgs args(VerbSpec spec, Map<String, String> texts, Set<String> flags) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : texts.entrySet()) {
            VerbOption o = spec.option(e.getKey());
            if (o == null)
                throw new MmuException(Errno.EINVAL, "%s: unknown option '%s'", spec.name(), e.getKey());
            Value v;
            try {
                v = type(o).parse(e.getValue());
            } catch (IllegalArgumentException x) {
                throw new MmuException(Errno.EINVAL, "%s: %s=%s: %s", spec.name(), e.getKey(), e.getValue(),
                        x.getMessage());
            }
            values.put(e.getKey(), typed(o, v));
        }
        return new VerbArgs(verbOf(spec), values, flags).checkedAgainst(spec);
    }

    private static String verbOf(VerbSpec spec) {
        return spec.name();
    }

    private static Object typed(VerbOption o, Value v) {
        return switch (o.type()) {
        case NUMBER, SIZE, GPA -> v.number();
        case LEVEL -> v.level().number();
        case BOOLEAN -> v.word().equals("on");
        case CHOICE, TEXT -> v.word();
        case DECIMAL -> v.parsed();
        };
    }

    /** The spec of the backend verb {@code name} ({@code NS.VERB}) among {@code specs}. */
    static Optional<VerbSpec> find(List<VerbSpec> specs, String name) {
        return specs.stream().filter(v -> v.name().equals(name)).findFirst();
    }
}
