package org.tdplab.mmu.scenario.trace;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a trace in {@code trace-cmd report} text: event lines, and the {@code # pid N: VM NAME} lines with which
 * {@link TraceWriter} names each VM's pid. Other comment and header lines ({@code cpus=2}, {@code # tracer: nop})
 * are skipped; an event line of another shape is an error naming its line.
 */
public final class TraceReader {
    /** {@code TASK-PID [CPU] [FLAGS] SECONDS: NAME: FIELDS}; the task may contain spaces ({@code CPU 0/KVM}). */
    private static final Pattern EVENT = Pattern.compile(
            "^\\s*(.+?)-(\\d+)\\s+\\[(\\d+)\\]\\s+(?:[^\\s:]+\\s+)?\\d+\\.\\d+:\\s+(\\w+):\\s?(.*)$");
    private static final Pattern PID = Pattern.compile("^# pid (\\d+): VM (.+)$");

    /** The events and the VM each pid stands for. */
    public record Trace(List<TraceEvent> events, Map<Integer, String> vmOfPid) {
        /** The VM an event belongs to: the one its pid was announced for, else the pid itself. */
        public String vm(TraceEvent e) {
            return vmOfPid.getOrDefault(e.pid(), "pid " + e.pid());
        }
    }

    /** A line that is neither an event, a comment nor a header. */
    public static final class BadLine extends IOException {
        private static final long serialVersionUID = 1L;

        BadLine(int line, String text) {
            super("line " + line + ": not a trace-cmd report event: '" + (text.length() > 80 ? text.substring(0, 80)
                    + "…" : text) + "'");
        }
    }

    private TraceReader() {
    }

    public static Trace read(BufferedReader in) throws IOException {
        List<TraceEvent> events = new ArrayList<>();
        Map<Integer, String> vms = new HashMap<>();
        String text;
        int line = 0;
        while ((text = in.readLine()) != null) {
            line++;
            if (text.startsWith("#")) {
                Matcher p = PID.matcher(text);
                if (p.matches())
                    vms.put(Integer.parseInt(p.group(1)), p.group(2));
                continue;
            }
            Matcher m = EVENT.matcher(text);
            if (!m.matches()) {
                // trace-cmd's own headers: "cpus=2", "CPU 1 is empty", "CPU0 data recorded at offset=…"
                if (text.isBlank() || text.startsWith("cpus=") || text.startsWith("CPU"))
                    continue;
                throw new BadLine(line, text);
            }
            events.add(new TraceEvent(line, m.group(1).trim(), Integer.parseInt(m.group(2)),
                    Integer.parseInt(m.group(3)), m.group(4), m.group(5)));
        }
        return new Trace(events, vms);
    }

    /**
     * The value after {@code key} in a kernel event's fields ({@code gfn 1f level 1} → {@code fields(…, "gfn")} is
     * {@code "1f"}), or null.
     */
    public static String field(String fields, String key) {
        int n = fields.length();
        for (int i = 0; i < n;) {
            while (i < n && fields.charAt(i) == ' ')
                i++;
            int end = fields.indexOf(' ', i);
            if (end < 0)
                return null;
            boolean match = end - i == key.length() && fields.startsWith(key, i);
            i = end + 1;
            while (i < n && fields.charAt(i) == ' ')
                i++;
            int valueEnd = fields.indexOf(' ', i);
            if (valueEnd < 0)
                valueEnd = n;
            if (match)
                return i < n ? fields.substring(i, valueEnd) : null;
            // the value was a word too: the next key may be it ("as id 0 gfn …" has no strict pairs)
        }
        return null;
    }
}
