package org.tdplab.mmu.scenario.workload;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.scenario.lang.Numbers;

/** The {@code k=v} options of a {@code run} statement, checked against the keys a workload knows. */
final class Options {
    private final String workload;
    private final Map<String, String> values;

    Options(String workload, Map<String, String> values, Set<String> known) {
        this.workload = workload;
        this.values = values;
        for (String k : values.keySet())
            if (!known.contains(k))
                throw new MmuException(Errno.EINVAL, "run %s: unknown option %s= (it knows %s)", workload, k,
                        String.join(", ", new TreeSet<>(known)));
    }

    boolean has(String key) {
        return values.containsKey(key);
    }

    long number(String key, long otherwise) {
        String v = values.get(key);
        if (v == null)
            return otherwise;
        try {
            return Numbers.parse(v);
        } catch (RuntimeException e) {
            throw new MmuException(Errno.EINVAL, "run %s: %s=%s is not a number", workload, key, v);
        }
    }

    /** A positive count no larger than {@code max}. */
    int count(String key, int otherwise, int max) {
        long n = number(key, otherwise);
        if (n < 1 || n > max)
            throw new MmuException(Errno.EINVAL, "run %s: %s=%s is out of range (1..%d)", workload, key,
                    values.get(key), max); // as written: 0xffffffffffffffff, not -1
        return (int) n;
    }

    boolean on(String key, boolean otherwise) {
        String v = values.get(key);
        if (v == null)
            return otherwise;
        return switch (v) {
        case "on", "yes", "1", "true" -> true;
        case "off", "no", "0", "false" -> false;
        default -> throw new MmuException(Errno.EINVAL, "run %s: %s=%s: use on or off", workload, key, v);
        };
    }

    String word(String key, String otherwise, String... allowed) {
        String v = values.getOrDefault(key, otherwise);
        for (String a : allowed)
            if (a.equals(v))
                return v;
        throw new MmuException(Errno.EINVAL, "run %s: %s=%s: use one of %s", workload, key, v,
                String.join(", ", allowed));
    }

    PageSize size(String key, PageSize otherwise) {
        String v = values.get(key);
        if (v == null)
            return otherwise;
        return switch (v.toUpperCase(java.util.Locale.ROOT)) {
        case "4K" -> PageSize.SIZE_4K;
        case "2M" -> PageSize.SIZE_2M;
        case "1G" -> PageSize.SIZE_1G;
        default -> throw new MmuException(Errno.EINVAL, "run %s: %s=%s: use 4K, 2M or 1G", workload, key, v);
        };
    }
}
