package org.tdplab.mmu.api.backend;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * A latency table per firmware operation, for "projected hardware time": each call a backend records through
 * {@link VmContext#firmwareCall} is priced with the latency of its name — counted, never slept.
 *
 * <p>Text form (one entry per array element, or more than one separated by commas, as a FileInstall {@code .cfg} line
 * gives them): {@code NAME=LATENCY}, where {@code LATENCY} is nanoseconds, optionally suffixed {@code ns} or
 * {@code us}; the name {@code *} sets the latency of every operation the table does not name. Example:
 * {@code OP.A=4000, OP.B=1us, *=1000}.
 *
 * @param byName latency in nanoseconds per operation name
 * @param otherNanos latency of an operation not in {@code byName}
 */
public record FirmwareLatency(Map<String, Long> byName, long otherNanos) {
    /** Prices nothing. */
    public static final FirmwareLatency NONE = new FirmwareLatency(Map.of(), 0);

    public FirmwareLatency {
        byName = Map.copyOf(byName);
        if (otherNanos < 0)
            throw new IllegalArgumentException("negative latency " + otherNanos);
    }

    /** The latency of one call of {@code name}, in nanoseconds. */
    public long nanos(String name) {
        Long n = byName.get(name);
        return n == null ? otherNanos : n;
    }

    /** This table with {@code entries} (text form) laid over it: named entries replace, {@code *} replaces the rest. */
    public FirmwareLatency with(String... entries) {
        Map<String, Long> map = new TreeMap<>(byName);
        long other = otherNanos;
        if (entries != null)
            for (String element : entries) {
                if (element == null)
                    continue;
                for (String entry : element.split(",")) {
                    String e = entry.trim();
                    if (e.isEmpty())
                        continue;
                    int eq = e.lastIndexOf('=');
                    if (eq <= 0)
                        throw new MmuException(Errno.EINVAL, "latency entry '%s': expected NAME=NANOSECONDS", e);
                    String name = e.substring(0, eq).trim();
                    long ns = parseNanos(e, e.substring(eq + 1).trim());
                    if (name.equals("*"))
                        other = ns;
                    else
                        map.put(name, ns);
                }
            }
        return new FirmwareLatency(map, other);
    }

    /** A table from its text form over {@link #NONE}. */
    public static FirmwareLatency parse(String... entries) {
        return NONE.with(entries);
    }

    private static long parseNanos(String entry, String value) {
        String v = value.toLowerCase(Locale.ROOT);
        long scale = 1;
        if (v.endsWith("ns")) {
            v = v.substring(0, v.length() - 2).trim();
        } else if (v.endsWith("us") || v.endsWith("µs")) {
            v = v.substring(0, v.length() - 2).trim();
            scale = 1000;
        }
        try {
            long n = Long.parseLong(v);
            if (n < 0)
                throw new NumberFormatException();
            return Math.multiplyExact(n, scale);
        } catch (NumberFormatException | ArithmeticException ex) {
            throw new MmuException(Errno.EINVAL,
                    "latency entry '%s': '%s' is not a non-negative latency (nanoseconds, or with ns/us)", entry,
                    value);
        }
    }

    /** The text form, sorted by name, {@code *} last. */
    public String[] entries() {
        String[] out = new String[byName.size() + 1];
        int i = 0;
        for (Map.Entry<String, Long> e : new TreeMap<>(byName).entrySet())
            out[i++] = e.getKey() + "=" + e.getValue();
        out[i] = "*=" + otherNanos;
        return out;
    }
}
