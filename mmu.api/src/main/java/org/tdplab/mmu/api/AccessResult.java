package org.tdplab.mmu.api;

/**
 * How a guest access (or accept / convert) ended.
 *
 * @param pages how many 4K pages it completed before it ended
 * @param exit the exit to userspace that ended it, or null
 * @param exception the exception raised in the guest ({@code VE}, {@code VC}, {@code PF}), or null
 * @param valuesAgree for reads: every page read returned {@link #value}
 * @param value for reads: the token the first page returned; for writes: the token written
 */
public record AccessResult(long pages, Exit exit, String exception, boolean valuesAgree, long value) {
    public boolean completed() {
        return exit == null && exception == null;
    }

    public static AccessResult done(long pages, boolean valuesAgree, long value) {
        return new AccessResult(pages, null, null, valuesAgree, value);
    }

    public static AccessResult exit(long pages, Exit exit) {
        return new AccessResult(pages, exit, null, true, 0);
    }

    public static AccessResult exception(long pages, String name) {
        return new AccessResult(pages, null, name, true, 0);
    }
}
