package org.tdplab.mmu.api.backend;

import java.util.List;

/**
 * A statement a backend contributes to the scenario language, e.g. {@code NAMESPACE.init_mem_region VM
 * gpa=A size=S [measure]}. The first positional argument is always the VM. Each option declares its type: the
 * language parses and validates values once and hands the backend a typed {@link VerbArgs}.
 *
 * @param name the verb, {@code NAMESPACE.VERB}
 * @param options the {@code key=value} options it takes, required or not, with their types
 * @param flags bare words that may be given
 * @param summary one line for help
 */
public record VerbSpec(String name, List<VerbOption> options, List<String> flags, String summary) {
    public VerbSpec {
        options = List.copyOf(options);
        flags = List.copyOf(flags);
    }

    /** The namespace before the dot: the backend's VM type. */
    public String namespace() {
        return name.substring(0, name.indexOf('.'));
    }

    /** The option of {@code key}, or null when the verb takes none. */
    public VerbOption option(String key) {
        for (VerbOption o : options)
            if (o.key().equals(key))
                return o;
        return null;
    }
}
