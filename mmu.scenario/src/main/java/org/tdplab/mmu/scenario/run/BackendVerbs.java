package org.tdplab.mmu.scenario.run;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Schema;
import org.tdplab.mmu.scenario.lang.ValueType;
import org.tdplab.mmu.scenario.lang.VerbCatalog;

/**
 * The verbs the discovered backends contribute, as statement forms: {@code NS.VERB VM key=N… [flag…]}. A backend
 * that lands later is picked up by the next run without any change here.
 */
public final class BackendVerbs {
    private BackendVerbs() {
    }

    /**
     * A parser of the core language and every usable backend verb. A verb the language cannot take (it redefines a
     * core verb, say) is left out with a warning, so one bad backend does not stop every scenario.
     */
    static Parser parser(List<VerbSpec> specs, PrintStream warnings) {
        List<Schema> usable = new ArrayList<>();
        for (VerbSpec spec : specs) {
            try {
                Schema s = schema(spec);
                List<Schema> with = new ArrayList<>(usable);
                with.add(s);
                new Parser(VerbCatalog.of(with, Set.of()));
                usable.add(s);
            } catch (IllegalArgumentException | StringIndexOutOfBoundsException e) {
                warnings.println("tdplab: ignoring backend verb '" + spec.name() + "': " + e.getMessage());
            }
        }
        return new Parser(VerbCatalog.of(usable, Set.of()));
    }

    /** The statement form of a backend verb, e.g. {@code tdx.finalize VM}. */
    public static Schema schema(VerbSpec spec) {
        Schema.Builder b = Schema.verb(spec.name()).positional("VM");
        spec.required().forEach(k -> b.required(k, ValueType.NUMBER, placeholder(k)));
        spec.optional().forEach(k -> b.optional(k, ValueType.NUMBER, placeholder(k)));
        spec.flags().forEach(b::flag);
        return b.build();
    }

    /** The contract's placeholders: {@code gpa=A size=S}, any other number {@code N}. */
    private static String placeholder(String key) {
        return switch (key) {
        case "gpa" -> "A";
        case "size" -> "S";
        default -> "N";
        };
    }
}
