package org.tdplab.percpu;

/**
 * One count that many threads change at once and few read: the kernel's {@code percpu_counter}, by thread. A
 * {@link PercpuCounters} of one counter; see there for what a read sees while threads count.
 */
public final class PercpuCounter {
    private final PercpuCounters counts;
    private final int index;

    public PercpuCounter() {
        this(new PercpuCounters(1), 0);
    }

    /**
     * Counter {@code index} of {@code counts}: counts kept with others in each thread's row, so that one look-up
     * ({@link #row()}) serves a thread's adds to each of them (a lock's holders and a count changed under it).
     */
    public PercpuCounter(PercpuCounters counts, int index) {
        this.counts = counts;
        this.index = index;
    }

    /** Adds {@code delta} in the calling thread's row: a release store, no atomic. */
    public void add(long delta) {
        counts.add(index, delta);
    }

    /** {@link #add}, ordered before the caller's next volatile load ({@link PercpuCounters#addVolatile}). */
    public void addVolatile(long delta) {
        counts.addVolatile(index, delta);
    }

    /** The calling thread's row, for {@link #add(PercpuCounters.Row, long)}: one look-up for several changes. */
    public PercpuCounters.Row row() {
        return counts.row();
    }

    /** {@link #add(long)} in the calling thread's {@link #row()}. */
    public void add(PercpuCounters.Row row, long delta) {
        counts.add(row, index, delta);
    }

    /** {@link #addVolatile(long)} in the calling thread's {@link #row()}. */
    public void addVolatile(PercpuCounters.Row row, long delta) {
        counts.addVolatile(row, index, delta);
    }

    /** The count: the sum of the rows, each read volatile. */
    public long sum() {
        return counts.sum(index);
    }

    /** Sets the count (a restore); no thread may count meanwhile ({@link PercpuCounters#set}). */
    public void set(long value) {
        counts.set(index, value);
    }
}
