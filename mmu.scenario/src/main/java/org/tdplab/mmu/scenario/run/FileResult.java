package org.tdplab.mmu.scenario.run;

import java.util.List;

/** The outcome of running one file: its size and every failure, in the order found. */
public record FileResult(String file, int statements, int expectations, List<Failure> failures) {
    public FileResult {
        failures = List.copyOf(failures);
    }

    public boolean ok() {
        return failures.isEmpty();
    }

    /** {@code FILE: 42 statements, 17 expectations, ok} or {@code … 2 failed}. */
    public String summary() {
        return file + ": " + count(statements, "statement") + ", " + count(expectations, "expectation") + ", "
                + (ok() ? "ok" : failures.size() + " failed");
    }

    private static String count(int n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }
}
