package org.tdplab.bench;

import java.util.ArrayList;
import java.util.List;

/** The result table: each figure, what it is compared with, and the ratio of the two. */
final class Table {
    /** {@code ratio}: null to show value ÷ floor. */
    private record Row(String what, String setup, Double value, String unit, Double floor, String floorName,
            String target, Double ratio) {
    }

    private final List<Row> rows = new ArrayList<>();

    void row(String what, String setup, Double value, String unit, Double floor, String floorName, String target) {
        rows.add(new Row(what, setup, value, unit, floor, floorName, target, null));
    }

    /** A row whose ratio is not value ÷ floor (a median of ratios, say). */
    void row(String what, String setup, Double value, String unit, Double floor, String floorName, String target,
            double ratio) {
        rows.add(new Row(what, setup, value, unit, floor, floorName, target, ratio));
    }

    String markdown(String header) {
        StringBuilder b = new StringBuilder(header).append('\n');
        b.append("| what | setup | model | compared with | ratio | target |\n");
        b.append("|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            String ratio = r.ratio != null ? String.format("%.3f×", r.ratio)
                    : r.value != null && r.floor != null && r.floor > 0 ? String.format("%.2f×", r.value / r.floor)
                    : "";
            String floor = r.floor == null ? "" : number(r.floor) + " " + r.unit + " (" + r.floorName + ")";
            b.append("| ").append(r.what).append(" | ").append(r.setup).append(" | ")
                    .append(r.value == null ? "-" : number(r.value) + " " + r.unit).append(" | ").append(floor)
                    .append(" | ").append(ratio).append(" | ").append(r.target).append(" |\n");
        }
        return b.toString();
    }

    private static String number(double v) {
        return v >= 100 ? String.format("%.0f", v) : v >= 10 ? String.format("%.1f", v) : String.format("%.2f", v);
    }

    int size() {
        return rows.size();
    }
}
