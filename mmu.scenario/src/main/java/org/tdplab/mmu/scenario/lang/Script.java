package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.List;

/** A parsed file: its statements in order, and the same grouped into {@link Step}s. */
public final class Script {
    private final String file;
    private final List<Statement> statements;
    private final List<Step> steps;

    Script(String file, List<Statement> statements) {
        this.file = file;
        this.statements = List.copyOf(statements);
        List<Step> ss = new ArrayList<>();
        Statement current = null;
        List<Statement> expects = new ArrayList<>();
        for (Statement s : statements) {
            if (s.isExpectation()) {
                expects.add(s);
                continue;
            }
            if (current != null || !expects.isEmpty())
                ss.add(new Step(current, expects));
            current = s;
            expects = new ArrayList<>();
        }
        if (current != null || !expects.isEmpty())
            ss.add(new Step(current, expects));
        this.steps = List.copyOf(ss);
    }

    /** The file name as given to the parser. */
    public String file() {
        return file;
    }

    /** Every statement, expectations included, in file order. */
    public List<Statement> statements() {
        return statements;
    }

    /** Each statement with the expectations right after it, in file order. */
    public List<Step> steps() {
        return steps;
    }

    @Override
    public String toString() {
        return file + " (" + statements.size() + " statements)";
    }
}
