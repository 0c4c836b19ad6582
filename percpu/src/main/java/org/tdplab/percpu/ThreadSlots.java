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
    /**
     * A record of one thread; a class, not an interface, so the hot path reads a field instead of dispatching. Its
     * thread writes it at every operation, while the records of a structure's threads sit side by side in the heap
     * once a collection has copied them (it moves what one array holds together, in order): 128 bytes of padding
     * after the id keep a subclass's fields off the cache lines of whatever object precedes it. A subclass whose
     * fields are written puts 128 bytes of padding after them too ({@code long}s declared after them: the JVM lays
     * out a class's fields after its superclass's, and a class's {@code long}s in the order declared).
     */
    @SuppressWarnings("unused")
    public abstract static class Owned {
        public final long threadId;
        /** Fills the gap after the object header, where the JVM would otherwise put a small field of a subclass. */
        private int gap;
        private long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

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
