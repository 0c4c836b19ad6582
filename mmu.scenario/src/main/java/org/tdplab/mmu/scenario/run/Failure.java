package org.tdplab.mmu.scenario.run;

import java.util.List;

/**
 * One thing that did not hold, reported as {@code FILE:LINE: expected …; found …} with indented detail lines.
 *
 * @param line the line of the expectation that failed, or of the statement that failed or preceded the check
 */
public record Failure(String file, int line, String expected, String found, List<String> details) {
    public Failure {
        details = List.copyOf(details);
    }

    /** The report text: one line, then each detail on its own line indented by four spaces. */
    public String render() {
        StringBuilder sb = new StringBuilder().append(file).append(':').append(line).append(": expected ")
                .append(expected).append("; found ").append(found);
        for (String d : details)
            sb.append("\n    ").append(d);
        return sb.toString();
    }

    @Override
    public String toString() {
        return render();
    }
}
