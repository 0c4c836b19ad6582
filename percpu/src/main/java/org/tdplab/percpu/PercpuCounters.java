package org.tdplab.percpu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.Arrays;


/**
 * Counters that many threads bump and few read, with no atomic per bump: the kernel's {@code percpu_counter}, by
 * thread. Each thread adds into a row only it writes, with a release store, and a read sums the rows. A
 * {@code LongAdder} or an atomic add costs a locked instruction per bump even when nobody contends; on a fault path
 * that is one fence per counter.
 *
 * <p>A thread finds its row through {@link ThreadSlots}, else by a scan of the rows (once per thread and slot). Rows
 * keep their counts for the life of the counters; past {@value #MAX_ROWS} rows a new thread takes over the row of one
 * that ended, and while all {@value #MAX_ROWS} threads live the later ones share one row, counted under its lock.
 * Counters are numbered from 0; the width grows on demand
 * ({@link #add} with a new index), so counters of names first seen at run time fit too. A row's count may be
 * negative (a thread takes back what another added); only the sum means anything.
 *
 * <p>A sum read while other threads count may miss their latest bumps (as {@code LongAdder.sum()} does); once the
 * counting threads synchronized with the reader (a lock, a join) it is exact.
 */
public final class PercpuCounters {
    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);
    static final int MAX_ROWS = 256;
    /**
     * Empty cells before and after a row's counters (128 bytes each side): a row's array lies among whatever its
     * thread allocated next to it, which another thread may read or write — the line of a counter its thread bumps at
     * every fault must hold nothing else.
     */
    private static final int PAD = 16;

    /**
     * A thread's row ({@link #row()}): opaque outside, for a caller that changes its counts more than once in a row.
     */
    public static final class Row extends ThreadSlots.Owned {
        /** The thread that writes the row; none for the shared row. */
        private final WeakReference<Thread> owner;
        /** Replaced (copied, then published) only by the row's writer, when a counter lies beyond it. */
        volatile long[] cells;

        Row(Thread owner, long[] cells) {
            super(owner == null ? -1 : owner.getId());
            this.owner = owner == null ? null : new WeakReference<>(owner);
            this.cells = cells;
        }

        /** Whether the row's thread ended: its last bump happened before this answer (or the thread is long gone). */
        boolean ownerEnded() {
            Thread t = owner == null ? null : owner.get();
            return owner != null && (t == null || !t.isAlive());
        }
    }

    private final int initialWidth;
    private final ThreadSlots<Row> mine = new ThreadSlots<>(this::find);
    private volatile Row[] rows = new Row[0];
    /** The row of threads past {@link #MAX_ROWS}; written under its own lock. */
    private final Row shared;

    public PercpuCounters(int width) {
        this.initialWidth = Math.max(1, width);
        this.shared = new Row(null, newCells());
    }

    /** Adds {@code delta} to counter {@code index} for the calling thread. */
    public void add(int index, long delta) {
        bump(index, delta, false);
    }

    public void increment(int index) {
        add(index, 1);
    }

    /**
     * Adds {@code d1} to counter {@code i1} and {@code d2} to counter {@code i2} with one look-up of the caller's
     * row: for two counts that always move together (a call and its price).
     */
    public void add(int i1, long d1, int i2, long d2) {
        Row r = row();
        if (r == shared) {
            synchronized (shared) {
                addTwo(r, i1, d1, i2, d2);
            }
            return;
        }
        addTwo(r, i1, d1, i2, d2);
    }

    private static void addTwo(Row r, int i1, long d1, int i2, long d2) {
        long[] c = cellsFor(r, Math.max(i1, i2));
        store(c, PAD + i1, (long) CELL.getOpaque(c, PAD + i1) + d1, false);
        store(c, PAD + i2, (long) CELL.getOpaque(c, PAD + i2) + d2, false);
    }

    /**
     * {@link #add}, with a volatile store: the bump is ordered before the caller's next volatile load, as after the
     * kernel's {@code smp_mb()} — for a count another thread's check of some flag must not miss (a lock's holders).
     */
    public void addVolatile(int index, long delta) {
        bump(index, delta, true);
    }

    /**
     * {@link #add(int, long)} in the row {@link #row()} gave the calling thread: a caller that changes a count more
     * than once in a row (a lock's hold, then its release) looks its row up once. Only that thread may pass it.
     */
    public void add(Row r, int index, long delta) {
        bump(r, index, delta, false);
    }

    /** {@link #addVolatile(int, long)} in the calling thread's {@link #row()}, as {@link #add(Row, int, long)}. */
    public void addVolatile(Row r, int index, long delta) {
        bump(r, index, delta, true);
    }

    private void bump(int index, long delta, boolean volatileStore) {
        bump(row(), index, delta, volatileStore);
    }

    private void bump(Row r, int index, long delta, boolean volatileStore) {
        if (r == shared) {
            synchronized (shared) {
                long[] c = cellsFor(r, index);
                store(c, PAD + index, c[PAD + index] + delta, volatileStore);
            }
            return;
        }
        long[] c = cellsFor(r, index);
        store(c, PAD + index, (long) CELL.getOpaque(c, PAD + index) + delta, volatileStore);
    }

    private static void store(long[] cells, int i, long value, boolean volatileStore) {
        if (volatileStore)
            CELL.setVolatile(cells, i, value);
        else
            CELL.setRelease(cells, i, value);
    }

    /** The sum of counter {@code index} over every thread that counted. */
    public long sum(int index) {
        long s = sumOf(shared, index);
        for (Row r : rows)
            s += sumOf(r, index);
        return s;
    }

    /**
     * The sums of counters {@code [0, n)} in one pass over the rows: what {@link #sum} of each gives, for a reader of
     * many counters (a check of every ASID's count).
     */
    public long[] sums(int n) {
        long[] out = new long[n];
        addRow(shared, out);
        for (Row r : rows)
            addRow(r, out);
        return out;
    }

    private static void addRow(Row r, long[] out) {
        long[] c = r.cells;
        for (int i = 0, w = Math.min(out.length, width(c)); i < w; i++)
            out[i] += (long) CELL.getVolatile(c, PAD + i);
    }

    /**
     * Sets counter {@code index} to {@code value}: every row's count to 0 and the caller's to the value (a restore).
     * No thread may count meanwhile; the caller excludes them (a lock every counting thread holds).
     */
    public void set(int index, long value) {
        synchronized (shared) {
            CELL.setVolatile(cellsFor(shared, index), PAD + index, 0L);
        }
        for (Row r : rows)
            if (index < width(r.cells))
                CELL.setVolatile(r.cells, PAD + index, 0L);
        add(index, value);
    }

    private static long sumOf(Row r, int index) {
        long[] c = r.cells;
        return index < width(c) ? (long) CELL.getVolatile(c, PAD + index) : 0; // volatile: see addVolatile
    }

    /** How many counters the cells hold. */
    private static int width(long[] cells) {
        return cells.length - 2 * PAD;
    }

    /** The row's cells, grown first when {@code index} lies beyond them. Only the row's writer calls it. */
    private static long[] cellsFor(Row r, int index) {
        long[] c = r.cells;
        if (index < width(c))
            return c;
        long[] grown = Arrays.copyOf(c, PAD + Math.max(index + 1, width(c) * 2) + PAD);
        r.cells = grown; // the copy is whole before it is published: a reader sees the old counts or these
        return grown;
    }

    /** Rows made so far (threads past {@link #MAX_ROWS} share one more). */
    int rows() {
        return rows.length;
    }

    /** Whether the calling thread counts in the shared row. */
    boolean onSharedRow() {
        return row() == shared;
    }

    /** The calling thread's row, for {@link #add(Row, int, long)}; the shared one past {@value #MAX_ROWS} threads. */
    public Row row() {
        return mine.get(); // a thread on the shared row (whose id is no thread's) finds it the slow way each time
    }

    private long[] newCells() {
        return new long[PAD + initialWidth + PAD];
    }

    private Row find(long id) {
        Row[] rs = rows;
        for (Row r : rs)
            if (r.threadId == id)
                return r;
        return register(id);
    }

    /**
     * A row for the calling thread: a new one while there are fewer than {@link #MAX_ROWS}, else the row of a thread
     * that ended, taken over with its counts (threads come and go: a VM's vCPU threads, a soak's rounds), else the
     * shared one.
     */
    private synchronized Row register(long id) {
        Row[] rs = rows;
        for (Row r : rs)
            if (r.threadId == id)
                return r;
        Thread me = Thread.currentThread();
        Row[] next;
        Row r;
        if (rs.length < MAX_ROWS) {
            r = new Row(me, newCells());
            next = Arrays.copyOf(rs, rs.length + 1);
            next[rs.length] = r;
        } else {
            int ended = 0;
            while (ended < rs.length && !rs[ended].ownerEnded())
                ended++;
            if (ended == rs.length)
                return shared;
            r = new Row(me, rs[ended].cells); // one row per cells array in every published array: no count twice
            next = rs.clone();
            next[ended] = r;
        }
        rows = next;
        return r;
    }
}
