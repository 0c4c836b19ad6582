package org.tdplab.mmu.scenario.run;

import java.util.List;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;

/**
 * What one statement did: succeeded (a guest statement with its {@link AccessResult}), failed with an errno, or,
 * for {@code check}, found broken invariants.
 */
final class Outcome {
    private static final Outcome OK = new Outcome(null, null, null, List.of());

    private List<String> report = List.of();
    /** The count a host statement returned ({@code age}, {@code test_age}), or null. */
    private Long result;
    /** {@code {gpa, size}} a statement handed back undone ({@code size} 0: all done), or null. */
    private long[] remaining;

    private final AccessResult access;
    private final Errno errno;
    private final String reason;
    private final List<String> violations;

    private Outcome(AccessResult access, Errno errno, String reason, List<String> violations) {
        this.access = access;
        this.errno = errno;
        this.reason = reason;
        this.violations = violations;
    }

    static Outcome ok() {
        return OK;
    }

    static Outcome access(AccessResult result) {
        return new Outcome(result, null, null, List.of());
    }

    /** A workload ({@code run}) that completed, with the lines it prints. */
    static Outcome report(List<String> lines) {
        Outcome o = new Outcome(null, null, null, List.of());
        o.report = List.copyOf(lines);
        return o;
    }

    /** A host statement that returned a count. */
    static Outcome result(long n) {
        Outcome o = new Outcome(null, null, null, List.of());
        o.result = n;
        return o;
    }

    /** A statement that may stop early and hand back the rest of its range, {@code [gpa, gpa+size)}. */
    static Outcome remaining(long gpa, long size) {
        Outcome o = new Outcome(null, null, null, List.of());
        o.remaining = new long[] { gpa, size };
        return o;
    }

    /** A backend verb's result: its count (if any) and the range it handed back (if any). */
    static Outcome of(org.tdplab.mmu.api.backend.VerbResult r) {
        if (r.values().isEmpty() && r.remaining().isEmpty())
            return OK;
        Outcome o = new Outcome(null, null, null, List.of());
        r.count().ifPresent(n -> o.result = n);
        r.remaining().ifPresent(x -> o.remaining = new long[] { x.gpa(), x.size() });
        return o;
    }

    /** A failure after partial progress also hands back the rest of the range. */
    void handedBack(long gpa, long size) {
        remaining = new long[] { gpa, size };
    }

    /** The count the statement returned, or null when it returns none. */
    Long result() {
        return result;
    }

    /** {@code {gpa, size}} of the range handed back undone, or null when the statement hands back none. */
    long[] remaining() {
        return remaining;
    }

    /** What the statement prints (a workload's metrics); empty for most statements. */
    List<String> report() {
        return report;
    }

    static Outcome error(Errno errno, String reason) {
        return new Outcome(null, errno, reason, List.of());
    }

    static Outcome violations(List<String> violations) {
        return new Outcome(null, null, null, List.copyOf(violations));
    }

    boolean failed() {
        return errno != null;
    }

    Errno errno() {
        return errno;
    }

    /** {@code EINVAL: reason}. */
    String error() {
        return errno + ": " + reason;
    }

    /** The guest statement's result, or null. */
    AccessResult access() {
        return access;
    }

    /** A guest statement that ended in an exit to userspace or a guest exception. */
    boolean endedEarly() {
        return access != null && !access.completed();
    }

    /** A guest access that ended in {@code KVM_EXIT_MEMORY_FAULT}, for which {@code KVM_RUN} returns -EFAULT. */
    boolean memoryFault() {
        return access != null && access.exit() != null && access.exit().reason() == Exit.Reason.MEMORY_FAULT;
    }

    List<String> violations() {
        return violations;
    }
}
