package org.tdplab.mmu.scenario.lang;

/** One whitespace-separated word of a line, with its 1-based line and column. */
public record Token(String text, int line, int column) {
    @Override
    public String toString() {
        return line + ":" + column + ":" + text;
    }
}
