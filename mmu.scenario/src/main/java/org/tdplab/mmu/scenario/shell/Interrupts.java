package org.tdplab.mmu.scenario.shell;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

import org.apache.felix.service.command.Job;
import org.tdplab.mmu.scenario.run.Interruption;

/**
 * Ctrl-C for long commands: at a prompt, it asks the command to stop ({@link Interruption}), which it does at its
 * next boundary (a statement, a workload's vCPU check, a soak round).
 */
public final class Interrupts {
    /** Gogo's terminal, present in a session only in the interactive shell. */
    static final String TERMINAL = ".terminal";

    private Interrupts() {
    }

    /** Runs {@code body} so that Ctrl-C asks it to stop, when there is a terminal (else just runs it). */
    public static <T> T interruptible(Supplier<T> body) {
        Job job = Job.Utils.current();
        Object terminal = job == null ? null : job.session().get(TERMINAL);
        if (terminal == null)
            return body.get();
        AtomicBoolean request = new AtomicBoolean();
        return Interruption.during(request, () -> Jline.onInterrupt(terminal, () -> request.set(true), body));
    }
}
