package org.tdplab.mmu.scenario.lang;

import java.util.List;
import java.util.stream.Collectors;

/** The outcome of parsing one file: a script, or every error found in it (sorted by line, then column). */
public final class ParseResult {
    private final String file;
    private final Script script;
    private final List<ParseException> errors;
    private final int omitted;

    ParseResult(String file, Script script, List<ParseException> errors, int omitted) {
        this.file = file;
        this.script = script;
        this.errors = List.copyOf(errors);
        this.omitted = omitted;
    }

    ParseResult(String file, Script script, List<ParseException> errors) {
        this(file, script, errors, 0);
    }

    public String file() {
        return file;
    }

    /** Whether the file parsed without error. */
    public boolean ok() {
        return errors.isEmpty();
    }

    /** The errors, in file order (at most {@link ErrorList#MAX}); empty when {@link #ok()}. */
    public List<ParseException> errors() {
        return errors;
    }

    /** Errors found past the {@link ErrorList#MAX} kept: counted, not kept. */
    public int omitted() {
        return omitted;
    }

    /**
     * The script.
     *
     * @throws ParseException the first error, when there are any (nothing of a malformed file may execute)
     */
    public Script script() {
        if (!errors.isEmpty())
            throw errors.get(0);
        return script;
    }

    /** One {@code FILE:LINE:COL: message} line per error. */
    public String report() {
        return errors.stream().map(ParseException::getMessage).collect(Collectors.joining("\n"));
    }

    @Override
    public String toString() {
        return ok() ? "ok " + script : report();
    }
}
