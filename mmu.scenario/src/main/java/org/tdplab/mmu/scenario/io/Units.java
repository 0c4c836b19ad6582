package org.tdplab.mmu.scenario.io;

/** Sizes as a person writes them: {@code 8 MiB}, {@code 1.5 GiB}, {@code 300 bytes}. */
public final class Units {
    private Units() {
    }

    public static String bytes(long n) {
        String[] units = { "KiB", "MiB", "GiB", "TiB" };
        if (n < 1024)
            return n + " bytes";
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return (v == Math.rint(v) ? Long.toString((long) v) : String.format(java.util.Locale.ROOT, "%.1f", v)) + " "
                + units[u];
    }
}
