package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.lang.ExpectKind;
import org.tdplab.mmu.scenario.lang.Script;
import org.tdplab.mmu.scenario.lang.Statement;
import org.tdplab.mmu.scenario.lang.Step;

/**
 * Runs one parsed file in a fresh set of VMs: each statement, then the expectations after it, then (with
 * {@code checked}) the invariant checker on every VM. At the end the checker runs on every VM still there and
 * the VMs are destroyed, whatever happened before.
 */
final class FileRun {
    private final Script script;
    private final boolean checked;
    private final ScenarioVms vms;
    private final Executor executor;
    private final Expectations expectations;
    private final List<Failure> failures = new ArrayList<>();
    private final Consumer<String> output;
    private final Progress progress;
    private int done;
    private final List<FileResult.StepRecord> steps = new ArrayList<>();
    private final List<FileResult.ExpectRecord> expects = new ArrayList<>();
    private final List<FileResult.VmRecord> vmRecords = new ArrayList<>();
    private Statement last;
    private final org.tdplab.mmu.api.VmManager manager;
    private boolean pictures;
    private boolean interrupted;
    /** The attribute lane of each VM's picture, from the operation stream. */
    private final AttributeLanes lanes = new AttributeLanes();
    /** Each region's SPTE changes and firmware calls, for the picture's history on click. */
    private final RegionHistory history = new RegionHistory();
    private final List<VmPicture> vmPictures = new ArrayList<>();
    private final List<Timeline> timelines = new ArrayList<>();
    /** The heap ran out: the end of the file only tears its VMs down (no checker, no pictures) to free it. */
    private boolean outOfMemory;

    FileRun(VmManager manager, Script script, boolean checked) {
        this(manager, script, checked, line -> {
        }, null);
    }

    /** {@code output} receives what statements print (workload metrics), as {@code # FILE:LINE: …} lines. */
    FileRun(VmManager manager, Script script, boolean checked, Consumer<String> output, Progress progress) {
        this.manager = manager;
        this.output = output;
        this.progress = progress;
        this.script = script;
        this.checked = checked;
        this.vms = new ScenarioVms(manager);
        this.executor = new Executor(vms);
        this.expectations = new Expectations(vms);
    }

    /** Takes the pictures of {@code --html}: each VM at the end, and a timeline of each workload (at most 64). */
    FileRun pictures(boolean on) {
        this.pictures = on;
        return this;
    }

    /** Whether the run was interrupted (Ctrl-C in the shell, {@link Interruption}). */
    boolean interrupted() {
        return interrupted;
    }

    FileResult run() {
        long t0 = System.nanoTime();
        if (pictures) {
            manager.addObserver(lanes);
            manager.addObserver(history);
        }
        try {
            for (Step step : script.steps()) {
                if (Interruption.take()) { // Ctrl-C in the shell: stop at a statement boundary
                    interrupted = true;
                    failures.add(new Failure(script.file(), step.line(), "to run to the end",
                            "interrupted before this line", List.of("the rest of the file was not run")));
                    break;
                }
                step(step);
            }
        } catch (RuntimeException | AssertionError | StackOverflowError e) {
            internal(e, "the rest of the file was not run");
        } catch (OutOfMemoryError e) {
            outOfMemory = true;
            failures.add(OutOfMemory.failure(script.file(), last, "the rest of the file was not run"));
        } finally {
            end();
            manager.removeObserver(lanes);
            manager.removeObserver(history);
        }
        int expects = expectationCount();
        return new FileResult(script.file(), script.statements().size() - expects, expects, failures, steps,
                this.expects, vmRecords, System.nanoTime() - t0, vmPictures, timelines);
    }

    private int expectationCount() {
        return (int) script.statements().stream().filter(Statement::isExpectation).count();
    }

    /** What the progress line shows while nothing but the runner works ({@code final check of VM td}); null: none. */
    private void show(String what) {
        if (progress != null)
            progress.doing(what == null ? null : script.file() + ": " + what);
    }

    private void step(Step step) {
        Statement s = step.statement().orElse(null);
        Outcome outcome = Outcome.ok();
        if (s != null) {
            last = s;
            history.line(s.line());
            done++;
            if (progress != null)
                progress.at(script.file(), done, script.statements().size() - expectationCount(), s.source());
            ScenarioVm doomed = s.verb().equals("vm.destroy")
                    ? vms.find(s.vm()).filter(v -> !v.destroyed()).orElse(null) : null;
            List<String> lastCheck = doomed == null ? List.of() : invariants(doomed, "before it is destroyed");
            VmPicture lastPicture = doomed == null ? null : picture(doomed);
            long t0 = System.nanoTime();
            ScenarioVm target = pictures && s.verb().equals("run") && timelines.size() < 64
                    ? vms.find(s.vm()).filter(v -> !v.destroyed()).orElse(null) : null;
            if (target == null) {
                outcome = executor.execute(s);
            } else {
                Pictures.Recorder recorder = new Pictures.Recorder(target.vm.name());
                manager.addObserver(recorder);
                try {
                    outcome = executor.execute(s);
                } finally {
                    manager.removeObserver(recorder);
                }
                timelines.add(recorder.timeline(s.line(), s.source().strip(), target.name));
            }
            record(s, outcome, System.nanoTime() - t0);
            if (doomed != null && doomed.destroyed())
                destroyed(doomed, s.line(), lastCheck, lastPicture);
            print(s, outcome);
            unexpected(s, outcome, step.expectations());
            if (!outcome.violations().isEmpty())
                checkStatement(s, outcome);
            if (checked) {
                show("invariant check after line " + s.line());
                vms.live().forEach(v -> invariants(v, "after this statement"));
            }
            show(null);
        }
        for (Statement e : step.expectations()) {
            Optional<String> found = expectations.check(e, s, outcome);
            expects.add(new FileResult.ExpectRecord(e.line(), e.source().strip(), found.isEmpty(), found.orElse(null)));
            if (found.isPresent())
                failures.add(new Failure(e.file(), e.line(), e.source().substring("expect ".length()).strip(),
                        found.get(), e.expectKind().isOutcome() && s != null
                                ? List.of("after line " + s.line() + ": " + s.source()) : List.of()));
        }
    }

    private void record(Statement s, Outcome o, long nanos) {
        String result = "ok", errno = null, detail = null;
        if (o.failed()) {
            result = "error";
            errno = o.errno().name();
            detail = o.error();
        } else if (!o.violations().isEmpty()) {
            result = "violations";
            detail = String.join("; ", o.violations());
        } else if (o.endedEarly()) {
            result = o.access().exit() != null ? "exit" : "exception";
            detail = vms.display(Text.ending(o.access(), vms.find(s.vm()).map(ScenarioVm::sharedMask).orElse(0L)));
        }
        steps.add(new FileResult.StepRecord(s.line(), s.source().strip(), result, errno, detail, nanos, o.report()));
    }

    private void print(Statement s, Outcome o) {
        if (o.report().isEmpty())
            return;
        output.accept("# " + s.file() + ":" + s.line() + ": " + s.source().strip());
        for (String line : o.report())
            output.accept("#   " + line);
    }

    /** A failure, exit or exception that no {@code expect} line right after the statement names. */
    private void unexpected(Statement s, Outcome o, List<Statement> expects) {
        if (o.failed() && !has(expects, ExpectKind.ERROR)) {
            failures.add(new Failure(s.file(), s.line(), s.verb() + " to succeed", o.error(),
                    List.of(s.source(), "(if that is intended, write 'expect error " + o.errno() + "' after it)")));
        }
        if (!o.endedEarly())
            return;
        AccessResult r = o.access();
        long mask = vms.find(s.vm()).map(ScenarioVm::sharedMask).orElse(0L);
        // KVM_RUN returns -EFAULT with KVM_EXIT_MEMORY_FAULT: 'expect error EFAULT' names that exit too
        boolean named = r.exit() != null
                ? has(expects, ExpectKind.EXIT_MEMORY_FAULT) || has(expects, ExpectKind.EXIT_MMIO)
                        || has(expects, ExpectKind.EXIT_FAIL_ENTRY)
                        || o.memoryFault() && expects.stream().anyMatch(e -> e.expectKind() == ExpectKind.ERROR
                                && e.word("NAME").equals("EFAULT"))
                : has(expects, ExpectKind.EXCEPTION);
        if (named)
            return;
        String expect = r.exit() != null ? Text.exit(r.exit(), mask) : "exception " + r.exception();
        failures.add(new Failure(s.file(), s.line(), "the access to complete", vms.display(Text.ending(r, mask)),
                List.of(s.source(), "(if that is intended, write 'expect " + expect + "' after it)")));
    }

    private static boolean has(List<Statement> expects, ExpectKind kind) {
        return expects.stream().anyMatch(e -> e.expectKind() == kind);
    }

    /** {@code check VM} reports every violation it finds, even ones reported before. */
    private void checkStatement(Statement s, Outcome o) {
        vms.find(s.vm()).ifPresent(v -> o.violations().forEach(v::firstReport));
        failures.add(violations(s.line(), s.vm(), "", o.violations()));
    }

    /** Runs the checker on one VM; violations not reported before fail the file at the last statement. */
    private List<String> invariants(ScenarioVm v, String when) {
        List<String> fresh = new ArrayList<>(), all = new ArrayList<>();
        for (String violation : v.vm.check().violations()) {
            String text = vms.display(violation);
            all.add(text);
            if (v.firstReport(text))
                fresh.add(text);
        }
        if (!fresh.isEmpty())
            failures.add(violations(last.line(), v.name, " " + when, fresh));
        return all;
    }

    private Failure violations(int line, String vm, String when, List<String> violations) {
        List<String> details = new ArrayList<>(violations);
        if (last != null)
            details.add("after line " + last.line() + ": " + last.source());
        int n = violations.size();
        return new Failure(script.file(), line, "the invariants to hold in VM " + vm + when,
                n + " violation" + (n == 1 ? "" : "s"), details);
    }

    /** The checker on every VM left, then their teardown; a teardown that hits KVM_BUG_ON fails the file. */
    private void end() {
        for (ScenarioVm v : vms.live()) {
            if (outOfMemory) {
                OutOfMemory.destroy(v);
                continue;
            }
            try {
                show("final check of VM " + v.name);
                List<String> all = invariants(v, "at the end of the file");
                Vm vm = v.vm;
                VmPicture picture = picture(v);
                if (picture != null)
                    vmPictures.add(picture);
                vmRecords.add(new FileResult.VmRecord(v.name, vm.type(), vm.bugged(), vm.dead(), vm.stats(), all, false,
                        vm.firmwareCalls()));
                boolean wasBugged = vm.bugged();
                show("teardown of VM " + v.name);
                vm.destroy();
                v.destroyed(true);
                if (!wasBugged && vm.bugged())
                    failures.add(new Failure(script.file(), last.line(), "VM " + v.name + " to tear down cleanly",
                            "KVM_BUG_ON: " + vms.display(vm.bugReason().orElse("?")),
                            List.of("at the end of the file")));
            } catch (MmuException e) {
                failures.add(new Failure(script.file(), last.line(), "VM " + v.name + " to tear down cleanly",
                        vms.display(e.getMessage()), List.of("at the end of the file")));
            } catch (RuntimeException | AssertionError | StackOverflowError e) {
                internal(e, "while tearing down VM " + v.name + " at the end of the file");
            } catch (OutOfMemoryError e) {
                outOfMemory = true;
                failures.add(OutOfMemory.failure(script.file(), last, "at the end of the file, with VM " + v.name));
                OutOfMemory.destroy(v);
            }
        }
        show(null);
    }

    /** The picture of a VM for {@code --html} (null without {@code --html}, or for a VM that cannot be walked). */
    private VmPicture picture(ScenarioVm v) {
        Vm vm = v.vm;
        if (!pictures || vm.bugged())
            return null;
        show("pictures of VM " + v.name + " for --html");
        try {
            return Pictures.of(v, lanes.of(vm.name()), history.of(vm.name()));
        } catch (RuntimeException e) {
            return null; // no picture of a VM that cannot be walked (suspended); the report says so by its absence
        } finally {
            show(null);
        }
    }

    /**
     * A {@code vm.destroy} of the file destroyed {@code v}: the reports keep it with the counters its teardown left
     * (the final ones), the check made just before, and the picture taken just before.
     */
    private void destroyed(ScenarioVm v, int line, List<String> lastCheck, VmPicture before) {
        Vm vm = v.vm;
        vmRecords.add(new FileResult.VmRecord(v.name, vm.type(), vm.bugged(), vm.dead(), vm.stats(), lastCheck, true,
                vm.firmwareCalls()));
        if (before != null)
            vmPictures.add(before.destroyed(vm.stats(), vm.firmwareCalls(), "destroyed at line " + line
                    + ": drawn as it was just before; the counters are the final ones, as its teardown left them"));
    }

    /** An exception that is not an errno: a bug in the model (or the runner), with where it was thrown. */
    private void internal(Throwable e, String consequence) {
        List<String> details = new ArrayList<>();
        if (last != null)
            details.add(last.source());
        details.add(consequence);
        failures.add(new Failure(script.file(), last == null ? 1 : last.line(),
                "the statement to succeed or fail with an errno", vms.display(Text.internalError(e)), details));
    }
}
