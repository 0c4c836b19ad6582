package org.tdplab.mmu.scenario.trace;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.tdplab.mmu.scenario.io.Input;

/**
 * Reads a trace in {@code trace-cmd report} text: event lines, and the {@code # pid N: VM NAME} lines with which
 * {@link TraceWriter} names each VM's pid. Other comment and header lines ({@code cpus=2}, {@code # tracer: nop})
 * are skipped; event lines of another shape are errors naming their lines ({@link BadTrace}).
 */
public final class TraceReader {
    /** {@code TASK-PID [CPU] [FLAGS] SECONDS: NAME: FIELDS}; the task may contain spaces ({@code CPU 0/KVM}). */
    private static final Pattern EVENT = Pattern.compile(
            "^\\s*(.+?)-(\\d{1,9})\\s+\\[(\\d{1,9})\\]\\s+(?:[^\\s:]+\\s+)?\\d+\\.\\d+:\\s+(\\w+):\\s?(.*)$");
    private static final Pattern PID = Pattern.compile("^# pid (\\d{1,9}): VM (.+)$");

    /** The events and the VM each pid stands for. */
    public record Trace(List<TraceEvent> events, Map<Integer, String> vmOfPid) {
        /** The VM an event belongs to: the one its pid was announced for, else the pid itself. */
        public String vm(TraceEvent e) {
            return vmOfPid.getOrDefault(e.pid(), "pid " + e.pid());
        }
    }

    /** The longest line read, and the largest trace: bounds for a FIFO, a device or a file that never ends. */
    public static final int MAX_LINE = 1 << 16;
    public static final long MAX_BYTES = 4L << 30;

    private TraceReader() {
    }

    /** Reads a trace file, at most {@link #MAX_BYTES} and {@link #MAX_LINE} characters a line. */
    public static Trace read(Path file) throws IOException {
        try (Input.Lines lines = Input.lines(file, MAX_BYTES, MAX_LINE)) {
            return read(lines::next);
        }
    }

    public static Trace read(BufferedReader in) throws IOException {
        return read(in::readLine);
    }

    /** A source of lines: the next one, or null at the end. */
    public interface LineSource {
        String next() throws IOException;
    }

    /** Reads every line; lines of another shape are reported together ({@link BadTrace}) once all were read. */
    public static Trace read(LineSource in) throws IOException {
        List<TraceEvent> events = new ArrayList<>();
        Map<Integer, String> vms = new HashMap<>();
        BadTrace bad = new BadTrace();
        String text;
        int line = 0;
        while ((text = in.next()) != null) {
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
                bad.add(line, "not a trace-cmd report event: '" + (text.length() > 80 ? text.substring(0, 80) + "…"
                        : text) + "'");
                continue;
            }
            events.add(new TraceEvent(line, m.group(1).trim(), Integer.parseInt(m.group(2)),
                    Integer.parseInt(m.group(3)), m.group(4), m.group(5)));
        }
        bad.throwIfAny();
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
