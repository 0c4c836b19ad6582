package org.tdplab.mmu.api.backend;

import java.util.List;

/**
 * A statement a backend contributes to the scenario language, e.g. {@code NAMESPACE.init_mem_region VM
 * gpa=A size=S [measure]}. The first positional argument is always the VM.
 *
 * @param name the verb, {@code NAMESPACE.VERB}
 * @param required options that must be given, as {@code key} (values are numbers)
 * @param optional options that may be given
 * @param flags bare words that may be given
 * @param summary one line for help
 */
public record VerbSpec(String name, List<String> required, List<String> optional, List<String> flags,
        String summary) {
    /** The namespace before the dot: the backend's VM type. */
    public String namespace() {
        return name.substring(0, name.indexOf('.'));
    }
}
