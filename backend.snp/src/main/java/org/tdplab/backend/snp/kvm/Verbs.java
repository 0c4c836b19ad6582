package org.tdplab.backend.snp.kvm;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** Argument checks of the snp verbs, for callers that bypass the scenario language's own. */
final class Verbs {
    private Verbs() {
    }

    static void require(String verb, Map<String, String> options, Set<String> flags, Set<String> required,
            Set<String> optional, Set<String> knownFlags) {
        for (String key : required)
            if (!options.containsKey(key))
                throw new MmuException(Errno.EINVAL, "snp.%s: missing %s=", verb, key);
        for (String key : options.keySet())
            if (!required.contains(key) && !optional.contains(key))
                throw new MmuException(Errno.EINVAL, "snp.%s: unknown option '%s'", verb, key);
        for (String flag : flags)
            if (!knownFlags.contains(flag))
                throw new MmuException(Errno.EINVAL, "snp.%s: unknown flag '%s'%s", verb, flag,
                        knownFlags.isEmpty() ? "" : " (known: " + String.join(", ", new TreeSet<>(knownFlags)) + ")");
    }

    static long number(Map<String, String> options, String key) {
        return Numbers.parse(key, options.get(key));
    }
}
