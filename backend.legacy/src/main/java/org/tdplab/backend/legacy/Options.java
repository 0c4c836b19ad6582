package org.tdplab.backend.legacy;

import java.util.Map;
import java.util.Set;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** Validation of the {@code k=v} options a VM type accepts. */
final class Options {
    private Options() {
    }

    static void requireKnown(String vmType, Map<String, String> options, Set<String> known) {
        for (String key : options.keySet())
            if (!known.contains(key))
                throw new MmuException(Errno.EINVAL, "option '%s' is not known to VM type %s; known: %s", key, vmType,
                        known.isEmpty() ? "none" : String.join(", ", known.stream().sorted().toList()));
    }
}
