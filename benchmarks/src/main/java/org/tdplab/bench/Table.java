package org.tdplab.bench;

import java.util.ArrayList;
import java.util.List;

/** The result table: each figure, what it is compared with, and the ratio of the two. */
final class Table {
    /**
     * {@code ratio}: null to show value ÷ floor. {@code synced}: a second reference (the floor with the kernel's own
     * synchronization of the fault), or null; its ratio goes to a column of its own, shown when a row has one.
     */
    private record Row(String what, String setup, Double value, String unit, Double floor, String floorName,
            String target, Double ratio, Double synced) {
    }

    /** The second reference's column. */
    static final String SYNCED = "÷ floor + kernel sync";

    private final List<Row> rows = new ArrayList<>();

    void row(String what, String setup, Double value, String unit, Double floor, String floorName, String target) {
        rows.add(new Row(what, setup, value, unit, floor, floorName, target, null, null));
    }

    /** A row divided by its floor and, in the {@link #SYNCED} column, by {@code synced} as well. */
    void rowWithSynced(String what, String setup, Double value, String unit, Double floor, String floorName,
            String target, Double synced) {
        rows.add(new Row(what, setup, value, unit, floor, floorName, target, null, synced));
    }

    /** A row whose ratio is not value ÷ floor (a median of ratios, say). */
    void row(String what, String setup, Double value, String unit, Double floor, String floorName, String target,
            double ratio) {
        rows.add(new Row(what, setup, value, unit, floor, floorName, target, ratio, null));
    }

    String markdown(String header) {
        StringBuilder b = new StringBuilder(header).append('\n');
        boolean synced = rows.stream().anyMatch(r -> r.synced != null);
        b.append("| what | setup | model | compared with | ratio |").append(synced ? " " + SYNCED + " |" : "")
                .append(" target |\n");
        b.append("|---|---|---|---|---|").append(synced ? "---|" : "").append("---|\n");
        for (Row r : rows) {
            String ratio = r.ratio != null ? String.format("%.3f×", r.ratio) : ratio(r.value, r.floor);
            String floor = r.floor == null ? "" : number(r.floor) + " " + r.unit + " (" + r.floorName + ")";
            b.append("| ").append(r.what).append(" | ").append(r.setup).append(" | ")
                    .append(r.value == null ? "-" : number(r.value) + " " + r.unit).append(" | ").append(floor)
                    .append(" | ").append(ratio).append(" | ");
            if (synced)
                b.append(ratio(r.value, r.synced)).append(" | ");
            b.append(r.target).append(" |\n");
        }
        return b.toString();
    }

    private static String ratio(Double value, Double reference) {
        return value != null && reference != null && reference > 0 ? String.format("%.2f×", value / reference) : "";
    }

    private static String number(double v) {
        return v >= 100 ? String.format("%.0f", v) : v >= 10 ? String.format("%.1f", v) : String.format("%.2f", v);
    }

    int size() {
        return rows.size();
    }
}
