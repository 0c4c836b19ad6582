package org.tdplab.mmu.scenario.shell;

import java.util.function.Supplier;

import org.apache.felix.service.command.Job;

/** Ctrl-C for long commands: at a prompt, it interrupts the command's thread, which stops at a statement boundary. */
public final class Interrupts {
    /** Gogo's terminal, present in a session only in the interactive shell. */
    static final String TERMINAL = ".terminal";

    private Interrupts() {
    }

    /** Runs {@code body} so that Ctrl-C interrupts it, when there is a terminal (else just runs it). */
    public static <T> T interruptible(Supplier<T> body) {
        Job job = Job.Utils.current();
        Object terminal = job == null ? null : job.session().get(TERMINAL);
        return terminal == null ? body.get() : Jline.interruptible(terminal, body);
    }
}
