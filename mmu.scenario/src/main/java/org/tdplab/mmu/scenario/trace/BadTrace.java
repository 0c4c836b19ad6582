package org.tdplab.mmu.scenario.trace;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The lines of a trace that cannot be read or replayed, each with its line number: the first {@link #SHOWN} kept,
 * the rest counted. Thrown once the whole trace was looked at, so a user sees every problem in one go.
 */
public final class BadTrace extends IOException {
    private static final long serialVersionUID = 1L;
    public static final int SHOWN = 100;
    /** {line, problem} */
    private final List<String[]> problems = new ArrayList<>();
    private long more;

    public BadTrace() {
        super("the trace has lines that cannot be used");
    }

    /** Records that {@code line} (1-based) cannot be used, and why. */
    public void add(int line, String problem) {
        if (problems.size() < SHOWN)
            problems.add(new String[] { Integer.toString(line), problem });
        else
            more++;
    }

    public boolean any() {
        return !problems.isEmpty();
    }

    /** Throws this when any line was bad. */
    public void throwIfAny() throws BadTrace {
        if (any())
            throw this;
    }

    /** {@code FILE:LINE: problem} for each kept problem, then {@code … and N more} when some were only counted. */
    public List<String> lines(String file) {
        List<String> out = new ArrayList<>();
        problems.forEach(p -> out.add(file + ":" + p[0] + ": " + p[1]));
        if (more > 0)
            out.add("… and " + more + " more (the first " + SHOWN + " are shown)");
        return out;
    }

    @Override
    public String getMessage() {
        List<String> out = new ArrayList<>();
        problems.forEach(p -> out.add("line " + p[0] + ": " + p[1]));
        if (more > 0)
            out.add("… and " + more + " more");
        return String.join("\n", out);
    }
}
