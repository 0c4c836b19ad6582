package org.tdplab.mmu.scenario.lang;

import java.util.List;

/** The kinds of {@code expect} line. */
public enum ExpectKind {
    /** {@code expect error NAME}: the previous statement failed with that errno. */
    ERROR("error", true),
    /** {@code expect exit memory_fault gpa=A size=S private|shared}. */
    EXIT_MEMORY_FAULT("exit memory_fault", true),
    /** {@code expect exit mmio gpa=A}. */
    EXIT_MMIO("exit mmio", true),
    /** {@code expect exit fail_entry [reason=R]}: {@code KVM_EXIT_FAIL_ENTRY}, with that hardware reason if given. */
    EXIT_FAIL_ENTRY("exit fail_entry", true),
    /** {@code expect exception NAME}. */
    EXCEPTION("exception", true),
    /** {@code expect value V}. */
    VALUE("value", true),
    /** {@code expect spte VM gpa=A present|absent …}: state now. */
    SPTE("spte", false),
    /** {@code expect stat VM NAME OP N}: state now. */
    STAT("stat", false),
    /** {@code expect vm VM bugged|alive} / {@code expect vm VM dead}: state now. */
    VM("vm", false),
    /** {@code expect dirty VM ID count=N}: the last {@code dirty.get} bitmap. */
    DIRTY_COUNT("dirty", false),
    /** {@code expect dirty VM ID gpa=A set|clear}: the last {@code dirty.get} bitmap. */
    DIRTY_BIT("dirty", false),
    /** {@code expect result N}: the count the previous host statement returned. */
    RESULT("result", true),
    /** {@code expect remaining gpa=A size=S}: the range the previous statement handed back undone. */
    REMAINING("remaining", true);

    private final String words;
    private final boolean outcome;

    ExpectKind(String words, boolean outcome) {
        this.words = words;
        this.outcome = outcome;
    }

    /** The words after {@code expect}, e.g. {@code exit mmio}. */
    public String words() {
        return words;
    }

    /**
     * Whether this checks the outcome of the statement before it ({@code error}, {@code exit}, {@code exception},
     * {@code value}, {@code result}, {@code remaining}) rather than the state now.
     */
    public boolean isOutcome() {
        return outcome;
    }

    static ExpectKind of(List<String> words, String mode) {
        String w = String.join(" ", words);
        if (w.equals("dirty"))
            return mode.isEmpty() ? DIRTY_COUNT : DIRTY_BIT;
        for (ExpectKind k : values())
            if (k.words.equals(w))
                return k;
        throw new IllegalArgumentException("no expectation kind: " + w);
    }
}
