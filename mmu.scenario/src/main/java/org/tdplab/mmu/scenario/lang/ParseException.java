package org.tdplab.mmu.scenario.lang;

/**
 * A malformed line. {@link #getMessage()} is exactly {@code FILE:LINE:COL: message}; {@link #reason()} is the
 * message alone.
 */
public final class ParseException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final int line;
    private final int column;
    private final String reason;

    public ParseException(String file, int line, int column, String reason) {
        super(file + ":" + line + ":" + column + ": " + reason);
        this.file = file;
        this.line = line;
        this.column = column;
        this.reason = reason;
    }

    /** The file name as given to the parser. */
    public String file() {
        return file;
    }

    /** 1-based line. */
    public int line() {
        return line;
    }

    /** 1-based column of the offending token (of the verb when something is missing). */
    public int column() {
        return column;
    }

    /** The message without the {@code FILE:LINE:COL: } prefix. */
    public String reason() {
        return reason;
    }
}
