package org.tdplab.percpu;

import java.util.function.LongFunction;

/**
 * Per-thread records found without a {@link ThreadLocal} look-up in the common case: a small table indexed by the
 * thread id's low bits holds the last record found there. A record carries its thread's id, so a slot another thread
 * took only sends the caller the slow way; thread ids are never reused, so a record under the caller's id is its own.
 * The slot store is plain: a thread that reads another's record there only goes the slow way too.
 *
 * @param <T> the record type
 */
public final class ThreadSlots<T extends ThreadSlots.Owned> {
    /** A record of one thread; a class, not an interface, so the hot path reads a field instead of dispatching. */
    public abstract static class Owned {
        public final long threadId;

        protected Owned(long threadId) {
            this.threadId = threadId;
        }
    }

    private static final int SLOTS = 64;
    private final Owned[] fast = new Owned[SLOTS];
    private final LongFunction<T> slow;

    /** {@code slow} finds or makes the calling thread's record from its id. */
    public ThreadSlots(LongFunction<T> slow) {
        this.slow = slow;
    }

    /** The calling thread's record. */
    @SuppressWarnings({ "unchecked", "deprecation" }) // Thread.getId: threadId() is Java 19
    public T get() {
        long id = Thread.currentThread().getId();
        int slot = (int) (id & (SLOTS - 1));
        Owned r = fast[slot];
        if (r != null && r.threadId == id)
            return (T) r;
        T mine = slow.apply(id);
        fast[slot] = mine;
        return mine;
    }
}
