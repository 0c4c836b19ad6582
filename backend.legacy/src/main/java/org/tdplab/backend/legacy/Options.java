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

    /** An {@code on|off} option, {@code otherwise} when not given. */
    static boolean onOff(String vmType, Map<String, String> options, String key, boolean otherwise) {
        String value = options.get(key);
        if (value == null)
            return otherwise;
        return switch (value) {
        case "on" -> true;
        case "off" -> false;
        default -> throw new MmuException(Errno.EINVAL, "%s=%s: VM type %s takes on or off", key, value, vmType);
        };
    }
}
