package org.tdplab.mmu.scenario.cli;

import org.apache.felix.service.command.CommandSession;

/**
 * Commands that end with an exit status answer it as their Gogo result, which {@code ./tdplab} and scripts read;
 * at the interactive prompt Gogo would print it after the command's own summary (a stray {@code 0}), so there it is
 * kept in the session variable {@code status} instead.
 */
final class Interactive {
    /** Gogo's line reader, present in a session only when a person types at a prompt. */
    static final String READER = ".reader";

    private Interactive() {
    }

    static Integer result(CommandSession session, int status) {
        if (session == null || session.get(READER) == null)
            return status;
        session.put("status", status);
        return null;
    }
}
