package org.tdplab.mmu.api;

import java.util.List;

/**
 * The result of running the invariant checker.
 *
 * @param violations one line per broken invariant, naming it (e.g. {@code "inv 16: …"}); empty when all hold
 * @param checked how many invariants were checked
 */
public record CheckReport(List<String> violations, int checked) {
    public boolean ok() {
        return violations.isEmpty();
    }
}
