package org.tdplab.mmu.scenario.run;

import java.math.BigInteger;
import java.util.Map;
import java.util.Optional;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.scenario.lang.Statement;

/**
 * Checks one {@code expect} line: outcome kinds against what the statement before it did, state kinds against the
 * model now. "Expected" in a report is the line as written, without {@code expect}.
 */
final class Expectations {
    private final ScenarioVms vms;
    private final Spte spte;

    Expectations(ScenarioVms vms) {
        this.vms = vms;
        this.spte = new Spte(vms);
    }

    /** Why {@code e} does not hold, or empty when it holds. */
    Optional<String> check(Statement e, Statement subject, Outcome outcome) {
        return switch (e.expectKind()) {
        case ERROR -> error(e, outcome);
        case EXIT_MEMORY_FAULT, EXIT_MMIO, EXIT_FAIL_ENTRY -> exit(e, subject, outcome);
        case EXCEPTION -> exception(e, subject, outcome);
        case VALUE -> value(e, subject, outcome);
        case SPTE -> spte.check(e);
        case STAT -> stat(e);
        case VM -> vm(e);
        case DIRTY_COUNT, DIRTY_BIT -> dirty(e);
        case RESULT -> result(e, subject, outcome);
        case REMAINING -> remaining(e, subject, outcome);
        };
    }

    /** What the statement did, for a report: {@code success}, {@code EINVAL: …}, an exit or exception. */
    private String did(Statement subject, Outcome o) {
        if (o.failed())
            return o.error();
        if (o.endedEarly())
            return vms.display(Text.ending(o.access(), sharedMask(subject)));
        if (o.access() == null)
            return "success";
        long n = o.access().pages();
        return "the access completed: " + n + " page" + (n == 1 ? "" : "s");
    }

    private long sharedMask(Statement subject) {
        return subject == null ? 0 : vms.find(subject.vm()).map(ScenarioVm::sharedMask).orElse(0L);
    }

    private Optional<String> error(Statement e, Outcome o) {
        String name = e.word("NAME");
        if (o.failed())
            return o.errno().name().equals(name) ? Optional.empty() : Optional.of(o.error());
        // KVM_RUN returns -EFAULT along with KVM_EXIT_MEMORY_FAULT
        if (name.equals("EFAULT") && o.memoryFault())
            return Optional.empty();
        return Optional.of("no error (" + did(e.subject().orElse(null), o) + ")");
    }

    private Optional<String> exit(Statement e, Statement subject, Outcome o) {
        AccessResult r = o.access();
        if (r == null || r.exit() == null)
            return Optional.of(o.failed() ? o.error() : "no exit (" + did(subject, o) + ")");
        long mask = sharedMask(subject);
        Exit x = r.exit();
        long want = e.hasOption("gpa") ? e.number("gpa") & ~mask : 0, got = x.gpa() & ~mask;
        boolean holds = switch (e.expectKind()) {
        case EXIT_FAIL_ENTRY -> x.reason() == Exit.Reason.FAIL_ENTRY
                && (!e.hasOption("reason") || x.hardwareEntryFailureReason() == e.number("reason"));
        case EXIT_MEMORY_FAULT -> x.reason() == Exit.Reason.MEMORY_FAULT && got == want && x.size() == e.number("size")
                && x.isPrivate() == e.has("private");
        // the model touches whole pages, so an MMIO exit names the page's first byte
        default -> x.reason() == Exit.Reason.MMIO && (got >>> 12) == (want >>> 12);
        };
        return holds ? Optional.empty() : Optional.of(Text.exit(x, mask));
    }

    private Optional<String> exception(Statement e, Statement subject, Outcome o) {
        AccessResult r = o.access();
        if (r == null || r.exception() == null)
            return Optional.of(o.failed() ? o.error() : "no exception (" + did(subject, o) + ")");
        return r.exception().equals(e.word("NAME")) ? Optional.empty() : Optional.of("exception " + r.exception());
    }

    private Optional<String> value(Statement e, Statement subject, Outcome o) {
        AccessResult r = o.access();
        if (r == null || !r.completed())
            return Optional.of(o.failed() ? o.error()
                    : "no value: the read did not complete (" + did(subject, o) + ")");
        long want = e.number("V");
        if (!r.valuesAgree())
            return Optional.of("pages that read different values: the first page read " + Text.hex(r.value())
                    + ", a later page another value");
        return r.value() == want ? Optional.empty() : Optional.of(Text.hex(r.value()));
    }

    private Optional<String> result(Statement e, Statement subject, Outcome o) {
        if (o.result() == null)
            return Optional.of(o.failed() ? o.error() : "no result (" + did(subject, o) + ")");
        long n = o.result();
        return n == e.number("N") ? Optional.empty() : Optional.of("result " + n);
    }

    private Optional<String> remaining(Statement e, Statement subject, Outcome o) {
        long[] r = o.remaining();
        if (r == null)
            return Optional.of(o.failed() ? o.error() : "no range handed back (" + did(subject, o) + ")");
        // a failure after partial progress hands the rest back too (expect error names the failure)
        // all done: the contract writes size=0 and whatever gpa; KVM leaves gpa at the range's end
        boolean holds = r[1] == e.number("size") && (r[1] == 0 || r[0] == e.number("gpa"));
        return holds ? Optional.empty() : Optional.of("remaining gpa=" + Text.hex(r[0]) + " size=" + Text.hex(r[1]));
    }

    private Optional<String> stat(Statement e) {
        Optional<ScenarioVm> v = vms.find(e.vm());
        if (v.isEmpty())
            return Optional.of(vms.noVm(e.vm()));
        String name = e.word("NAME");
        Map<String, Long> stats = v.get().vm.stats();
        Long value = stats.get(name);
        if (value == null && name.equals(FIRMWARE_CALLS))
            value = firmwareCalls(v.get().vm, stats);
        if (value == null)
            return Optional.of("no stat '" + name + "' (VM " + e.vm() + " has: " + String.join(", ", stats.keySet())
                    + ")");
        int c = BigInteger.valueOf(value).compareTo(new BigInteger(Long.toUnsignedString(e.number("N"))));
        boolean holds = switch (e.word("OP")) {
        case "=" -> c == 0;
        case "!=" -> c != 0;
        case "<" -> c < 0;
        case "<=" -> c <= 0;
        case ">" -> c > 0;
        default -> c >= 0;
        };
        return holds ? Optional.empty() : Optional.of(name + " = " + value);
    }

    /** The stat {@code expect stat} adds to the VM's own: every firmware call, of every kind the VM declares. */
    static final String FIRMWARE_CALLS = "firmware_calls";

    static long firmwareCalls(Vm vm, Map<String, Long> stats) {
        long n = 0;
        for (String call : vm.firmwareCalls())
            n += stats.getOrDefault(call, 0L);
        return n;
    }

    private Optional<String> vm(Statement e) {
        Optional<ScenarioVm> v = vms.find(e.vm());
        if (v.isEmpty())
            return Optional.of(vms.noVm(e.vm()));
        Vm vm = v.get().vm;
        // the contract: bugged|alive says whether KVM_BUG_ON marked the VM, so a VM killed without it is alive in
        // that sense; dead says whether it was killed (a bugged VM is dead too)
        boolean holds = e.has("bugged") ? vm.bugged() : e.has("dead") ? vm.dead() : !vm.bugged();
        if (holds)
            return Optional.empty();
        String why = " (" + vms.display(vm.deadReason().orElse("?")) + ")";
        return Optional.of(vm.bugged() ? "bugged" + why : vm.dead() ? "dead, not bugged" + why : "alive");
    }

    private Optional<String> dirty(Statement e) {
        Optional<ScenarioVm> v = vms.find(e.vm());
        if (v.isEmpty())
            return Optional.of(vms.noVm(e.vm()));
        int id = (int) Math.min(Integer.MAX_VALUE, e.number("ID"));
        Optional<DirtyLog> log = v.get().dirtyLog(id);
        if (log.isEmpty())
            return Optional.of("no dirty.get of memslot " + e.number("ID") + " before it");
        DirtyLog d = log.get();
        if (e.hasOption("count")) {
            long n = d.count();
            return n == e.number("count") ? Optional.empty()
                    : Optional.of(n + " dirty page" + (n == 1 ? "" : "s") + (n == 0 ? "" : " (" + d.firstSet(8) + ")"));
        }
        long gpa = e.number("gpa") & ~v.get().sharedMask();
        if (!d.covers(gpa))
            return Optional.of("gpa " + Text.hex(gpa) + " outside memslot " + id + " (" + Text.hex(d.base()) + ".."
                    + Text.hex(d.base() + d.size()) + ") at the last dirty.get");
        boolean set = d.isSet(gpa);
        return set == e.has("set") ? Optional.empty() : Optional.of(set ? "set" : "clear");
    }
}
