package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;

/**
 * A file's errors as the parser finds them: the first {@link #MAX} kept, the rest only counted, so that a file of
 * garbage (a binary, a log) costs no more memory than a few errors.
 */
final class ErrorList extends ArrayList<ParseException> {
    private static final long serialVersionUID = 1L;
    static final int MAX = 1000;
    int omitted;

    @Override
    public boolean add(ParseException e) {
        if (size() >= MAX) {
            omitted++;
            return false;
        }
        return super.add(e);
    }
}
