package org.tdplab.mmu.scenario.trace;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * A VMM operation as {@code tdplab_vm_op} records it: a name, then {@code key=value} words ({@code 0x} for hex).
 * Options of the VM or of a backend verb come as {@code option.KEY=VALUE}.
 */
public record Operation(String name, Map<String, String> args) {
    public static Operation parse(String text) {
        String[] words = text.trim().split("\\s+");
        Map<String, String> args = new LinkedHashMap<>();
        for (int i = 1; i < words.length; i++) {
            int eq = words[i].indexOf('=');
            if (eq > 0)
                args.put(words[i].substring(0, eq), words[i].substring(eq + 1));
            else
                args.put(words[i], "");
        }
        return new Operation(words[0], args);
    }

    public boolean has(String key) {
        return args.containsKey(key);
    }

    public String word(String key) {
        String v = args.get(key);
        if (v == null)
            throw new MmuException(Errno.EINVAL, "%s has no %s=", name, key);
        return v;
    }

    public long number(String key) {
        String v = word(key);
        try {
            return v.startsWith("0x") ? Long.parseUnsignedLong(v.substring(2), 16) : Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new MmuException(Errno.EINVAL, "%s %s=%s is not a number", name, key, v);
        }
    }

    public int integer(String key) {
        return Math.toIntExact(number(key));
    }

    public boolean flag(String key) {
        return has(key) && number(key) != 0;
    }

    /** The {@code option.KEY=VALUE} words, as {@code KEY → VALUE}. */
    public Map<String, String> options() {
        Map<String, String> out = new TreeMap<>();
        args.forEach((k, v) -> {
            if (k.startsWith("option."))
                out.put(k.substring("option.".length()), v);
        });
        return out;
    }
}
