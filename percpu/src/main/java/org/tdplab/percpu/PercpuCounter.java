package org.tdplab.percpu;

/**
 * One count that many threads change at once and few read: the kernel's {@code percpu_counter}, by thread. A
 * {@link PercpuCounters} of one counter; see there for what a read sees while threads count.
 */
public final class PercpuCounter {
    private final PercpuCounters counts = new PercpuCounters(1);

    /** Adds {@code delta} in the calling thread's row: a release store, no atomic. */
    public void add(long delta) {
        counts.add(0, delta);
    }

    /** {@link #add}, ordered before the caller's next volatile load ({@link PercpuCounters#addVolatile}). */
    public void addVolatile(long delta) {
        counts.addVolatile(0, delta);
    }

    /** The calling thread's row, for {@link #add(PercpuCounters.Row, long)}: one look-up for several changes. */
    public PercpuCounters.Row row() {
        return counts.row();
    }

    /** {@link #add(long)} in the calling thread's {@link #row()}. */
    public void add(PercpuCounters.Row row, long delta) {
        counts.add(row, 0, delta);
    }

    /** {@link #addVolatile(long)} in the calling thread's {@link #row()}. */
    public void addVolatile(PercpuCounters.Row row, long delta) {
        counts.addVolatile(row, 0, delta);
    }

    /** The count: the sum of the rows, each read volatile. */
    public long sum() {
        return counts.sum(0);
    }

    /** Sets the count (a restore); no thread may count meanwhile ({@link PercpuCounters#set}). */
    public void set(long value) {
        counts.set(0, value);
    }
}
