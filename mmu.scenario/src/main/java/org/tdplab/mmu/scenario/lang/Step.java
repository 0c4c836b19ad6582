package org.tdplab.mmu.scenario.lang;

import java.util.List;
import java.util.Optional;

/**
 * A statement with the {@code expect} lines right after it (comments and blank lines may stand between). The
 * runner executes the statement, then checks its expectations in order: outcome expectations against the
 * statement's result, state expectations against the state after it. A script's first step has no statement when
 * the file starts with (state) expectations.
 */
public final class Step {
    private final Statement statement;
    private final List<Statement> expectations;

    Step(Statement statement, List<Statement> expectations) {
        this.statement = statement;
        this.expectations = List.copyOf(expectations);
    }

    /** The statement, empty only for expectations at the top of the file. */
    public Optional<Statement> statement() {
        return Optional.ofNullable(statement);
    }

    /** The expectations that follow it, in order. */
    public List<Statement> expectations() {
        return expectations;
    }

    /** The line of the statement, or of the first expectation when there is none. */
    public int line() {
        return statement != null ? statement.line() : expectations.get(0).line();
    }

    @Override
    public String toString() {
        return (statement != null ? statement.source() : "(start)") + " + " + expectations.size() + " expect";
    }
}
