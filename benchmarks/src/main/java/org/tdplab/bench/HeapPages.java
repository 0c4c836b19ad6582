package org.tdplab.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether the heap got the transparent huge pages the bench asked for ({@code -XX:+UseTransparentHugePages}). When the
 * host's free memory is fragmented (hours of other large processes), the kernel backs the heap with 4K pages instead,
 * and every random-order row slows by up to 1.5× at 1 GiB while the floor, whose tables fit in a few huge pages,
 * hardly moves (stop 58: `default` random write 390 ns against 261 on the same code). The bench says so before it
 * measures, so that a reader does not take that for the model.
 */
final class HeapPages {
    private HeapPages() {
    }

    /** Below this share of the process's resident anonymous memory in huge pages, the run is warned about. */
    static final double ENOUGH = 0.5;

    /**
     * The warning for a process with {@code anonKb} of resident anonymous memory, {@code hugeKb} of it in huge pages,
     * or null when enough is, or when the check does not apply ({@code asked}: huge pages asked for and the heap
     * touched at start-up, so that the heap is resident and most of that memory).
     */
    static String warning(boolean asked, long hugeKb, long anonKb) {
        if (!asked || anonKb <= 0 || hugeKb >= ENOUGH * anonKb)
            return null;
        return String.format("bench: warning: only %d of the process's %d MiB of heap and other memory are in "
                + "transparent huge pages (the host's free memory is fragmented?): random-order rows will be slower "
                + "than the model is; as root, `echo 1 > /proc/sys/vm/compact_memory`, then run again", hugeKb >> 10,
                anonKb >> 10);
    }

    /** Field {@code name} ({@code AnonHugePages}, {@code Anonymous}) of {@code /proc/self/smaps_rollup} in kB, or -1. */
    static long field(String smapsRollup, String name) {
        for (String line : smapsRollup.split("\n"))
            if (line.startsWith(name + ":")) {
                String[] f = line.substring(name.length() + 1).trim().split("\\s+");
                try {
                    return Long.parseLong(f[0]);
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        return -1;
    }

    /** The warning for this JVM now, or null (also where the kernel does not say: not Linux, an old kernel). */
    static String check() {
        java.util.List<String> flags = ManagementFactory.getRuntimeMXBean().getInputArguments();
        boolean asked = flags.contains("-XX:+UseTransparentHugePages") && flags.contains("-XX:+AlwaysPreTouch");
        String rollup;
        try {
            rollup = Files.readString(Path.of("/proc/self/smaps_rollup"));
        } catch (IOException | RuntimeException e) {
            return null;
        }
        long huge = field(rollup, "AnonHugePages"), anon = field(rollup, "Anonymous");
        return huge < 0 || anon < 0 ? null : warning(asked, huge, anon);
    }
}
