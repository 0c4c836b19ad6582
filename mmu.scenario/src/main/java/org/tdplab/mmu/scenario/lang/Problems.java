package org.tdplab.mmu.scenario.lang;

import java.util.List;

/** Error sink of one file. */
final class Problems {
    final String file;
    final List<ParseException> errors;

    Problems(String file, List<ParseException> errors) {
        this.file = file;
        this.errors = errors;
    }

    void at(Token t, String message) {
        errors.add(new ParseException(file, t.line(), t.column(), message));
    }

    int count() {
        return errors.size();
    }
}
