package org.tdplab.mmu.scenario.run;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.lang.ParseException;
import org.tdplab.mmu.scenario.lang.ParseResult;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Statement;

/**
 * An interactive scenario: statements and expectations run one line at a time against VMs that live as long as the
 * session (the shell's {@code mmu:} commands). Each line answers with what it did: {@code ok}, the errno and
 * reason, how a guest access ended, a workload's metrics, or whether an expectation held.
 */
public final class Session {
    private static final AtomicLong SESSIONS = new AtomicLong();

    private final VmManager manager;
    private final ScenarioVms vms;
    private final Executor executor;
    private final Expectations expectations;
    private Statement last;
    private Outcome lastOutcome = Outcome.ok();
    private int line;

    public Session(VmManager manager) {
        this.manager = manager;
        this.vms = new ScenarioVms(manager, "shell-" + SESSIONS.incrementAndGet() + "/", "this shell");
        this.executor = new Executor(vms);
        this.expectations = new Expectations(vms);
    }

    /** Runs one line of the scenario language; returns the lines it answers with. */
    public synchronized List<String> execute(String text) {
        line++;
        // an expectation applies to the statement before it: parse it after that statement's text
        boolean expect = text.strip().startsWith("expect") && last != null;
        ParseResult r = parser().parse("shell", expect ? last.source() + "\n" + text : text);
        List<String> out = new ArrayList<>();
        if (!r.ok()) { // an expectation's errors are on the line typed, not on the statement parsed before it
            r.errors().stream().map(e -> expect && e.line() > 1
                    ? new ParseException(e.file(), e.line() - 1, e.column(), e.reason()) : e)
                    .map(ParseException::getMessage).forEach(out::add);
            return out;
        }
        List<Statement> statements = r.script().statements();
        for (Statement s : expect ? statements.subList(1, statements.size()) : statements) {
            if (s.isExpectation()) {
                Optional<String> found = expectations.check(s, last, lastOutcome);
                out.add(found.map(f -> "expected " + s.source().substring("expect ".length()).strip() + "; found " + f)
                        .orElse("holds"));
            } else {
                last = s;
                try {
                    lastOutcome = executor.execute(s);
                } catch (RuntimeException | AssertionError | StackOverflowError e) {
                    lastOutcome = Outcome.ok();
                    out.add(Text.internalError(e));
                    continue;
                }
                out.addAll(describe(s, lastOutcome));
            }
        }
        if (Interruption.take()) // Ctrl-C while the statement ran (a workload stops early): say so, and clear it
            out.add("interrupted");
        return out;
    }

    /** The language now: the core statements and the verbs of the backends discovered now. */
    public Parser parser() {
        return BackendVerbs.parser(manager.verbs(), manager.exceptionNames(),
                new PrintStream(OutputStream.nullOutputStream()));
    }

    /** The names of the session's VMs that are not destroyed, in creation order. */
    public synchronized List<String> vmNames() {
        return vms.live().stream().map(v -> v.name).toList();
    }

    /** Destroys the session's VMs that are still there (the shell is going away). */
    public synchronized void close() {
        for (ScenarioVm v : vms.live()) {
            try {
                v.vm.destroy();
            } catch (RuntimeException e) {
                // a bugged VM's teardown: nothing more to do for it
            }
            v.destroyed(true);
        }
    }

    /** The session's VM called {@code name}, destroyed or not (a destroyed VM keeps its final counters). */
    public Optional<Vm> anyVm(String name) {
        return vms.find(name).map(v -> v.vm);
    }

    /** The session's VM called {@code name}, not destroyed. */
    public Optional<Vm> vm(String name) {
        return vms.find(name).filter(v -> !v.destroyed()).map(v -> v.vm);
    }

    /** Session VM names as the user wrote them. */
    public String display(String text) {
        return vms.display(text);
    }

    private List<String> describe(Statement s, Outcome o) {
        if (o.failed())
            return List.of(o.error());
        if (!o.report().isEmpty())
            return o.report();
        if (!o.violations().isEmpty()) {
            List<String> l = new ArrayList<>();
            l.add(o.violations().size() + " invariant violation" + (o.violations().size() == 1 ? "" : "s") + ":");
            o.violations().forEach(v -> l.add("  " + v));
            return l;
        }
        AccessResult a = o.access();
        if (a == null)
            return List.of(s.verb().equals("check") ? "invariants hold" : "ok");
        long mask = vms.find(s.vm()).map(ScenarioVm::sharedMask).orElse(0L);
        if (!a.completed())
            return List.of(vms.display(Text.ending(a, mask)));
        return List.of(a.pages() + " page" + (a.pages() == 1 ? "" : "s") + (s.mode().equals("read")
                ? a.valuesAgree() ? ", value " + Text.hex(a.value()) : ", values differ (first " + Text.hex(a.value())
                        + ")" : ""));
    }
}
