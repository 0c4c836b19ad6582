package org.tdplab.mmu.scenario.run;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * VM options given once for VMs of several types ({@code soak --option}, {@code bench --option}): each VM gets those
 * that are options of its own type.
 */
public final class TypeOptions {
    private TypeOptions() {
    }

    /** The options among {@code options} that {@code type} has. */
    public static Map<String, String> forType(VmManager manager, String type, Map<String, String> options) {
        if (options.isEmpty())
            return Map.of();
        Set<String> own = own(manager, type);
        Map<String, String> mine = new TreeMap<>();
        options.forEach((k, v) -> {
            if (own.contains(k))
                mine.put(k, v);
        });
        return mine;
    }

    /**
     * Why {@code options} cannot go to VMs of {@code types}, or null: an option none of them has, or values a type
     * refuses (a VM of each type is created with its options and destroyed).
     */
    public static String refused(VmManager manager, List<String> types, Map<String, String> options) {
        for (String key : options.keySet())
            if (types.stream().noneMatch(t -> own(manager, t).contains(key)))
                return "--option " + key + ": not an option of " + String.join(", ", types);
        for (String t : types) {
            Map<String, String> mine = forType(manager, t, options);
            if (mine.isEmpty())
                continue;
            try {
                manager.create("options-" + t, t, 1, 48, mine).destroy();
            } catch (MmuException e) {
                return "--option: VM type " + t + " refuses " + mine + ": " + e.getMessage();
            }
        }
        return null;
    }

    private static Set<String> own(VmManager manager, String type) {
        return manager.options().getOrDefault(type, List.of()).stream().map(VmOption::key).collect(Collectors.toSet());
    }
}
