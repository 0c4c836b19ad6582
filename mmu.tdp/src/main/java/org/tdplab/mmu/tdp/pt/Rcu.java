package org.tdplab.mmu.tdp.pt;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import org.tdplab.percpu.ThreadSlots;

/**
 * Deferred freeing of detached page tables, one instance per VM (the kernel's {@code call_rcu} on
 * {@code kvm_mmu_page}).
 *
 * <p>Epoch scheme: a reader announces the global epoch when it enters its outermost read section (a volatile store:
 * a fence before the section's loads) and clears the announcement when it leaves (a release store). {@link #callRcu}
 * advances the epoch and tags the table with the new value; the table may be reused once no announced epoch is older
 * than its tag. A reader that announced before the advance
 * may still hold a pointer into the table; a reader that announced after it cannot, because the detach was
 * ordered before the advance and the reader's SPTE loads come after its announcement (all volatile).
 *
 * <p>The read side allocates nothing after a thread's first section: one record per thread, kept for the
 * life of this object, found through {@link ThreadSlots} (a {@link ThreadLocal} look-up only when two threads' ids
 * collide there).
 */
public final class Rcu {
    private static final VarHandle EPOCH, ANNOUNCED;

    static {
        try {
            EPOCH = MethodHandles.lookup().findVarHandle(Rcu.class, "epoch", long.class);
            ANNOUNCED = MethodHandles.lookup().findVarHandle(Reader.class, "announced", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * How long a waiter parks before it looks at the readers again. A reader's exit is a release store, so its look
     * for waiters may pass it: a waiter that parked just then is not woken, and finds the exit on its next look.
     */
    static final long RECHECK_NANOS = 50_000;

    /**
     * One thread's read-side state. {@code announced} is 0 outside a read section. A caller that enters and leaves
     * sections several times in one operation finds it once ({@link #reader}) and passes it to the read side's
     * methods; only its thread may.
     */
    @SuppressWarnings("unused")
    public static final class Reader extends ThreadSlots.Owned {
        volatile long announced;
        /** A {@code long}, so that it lies before the padding ({@link ThreadSlots.Owned}). */
        long nesting;
        private long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;

        Reader(long threadId) {
            super(threadId);
        }
    }

    private final TablePool pool;
    /** Starts at 1 so that 0 can mean "not reading". */
    @SuppressWarnings("unused")
    private volatile long epoch = 1;
    private final ThreadLocal<Reader> self;
    private final ThreadSlots<Reader> mine;
    private volatile Reader[] readers = new Reader[0];

    /** Queue of tables waiting for a grace period, FIFO in tag order. Guarded by {@code queueLock}. */
    private final ReentrantLock queueLock = new ReentrantLock();
    private int[] queuedIds = new int[64];
    private long[] queuedTags = new long[64];
    private int head;
    private int tail;
    private volatile int pending;

    /** Threads parked in {@link #synchronize}; a reader's outermost exit wakes them when {@code waiting} is set. */
    private final ConcurrentLinkedQueue<Thread> waiters = new ConcurrentLinkedQueue<>();
    private final AtomicInteger waiting = new AtomicInteger();

    /** How long {@link #awaitReaders} parks before it looks again ({@link #RECHECK_NANOS}; tests stretch it). */
    private final long recheckNanos;

    public Rcu(TablePool pool) {
        this(pool, RECHECK_NANOS);
    }

    Rcu(TablePool pool, long recheckNanos) {
        this.recheckNanos = recheckNanos;
        this.pool = pool;
        this.self = ThreadLocal.withInitial(this::register);
        this.mine = new ThreadSlots<>(id -> self.get());
    }

    private synchronized Reader register() {
        Reader r = new Reader(Thread.currentThread().getId());
        Reader[] rs = Arrays.copyOf(readers, readers.length + 1);
        rs[rs.length - 1] = r;
        readers = rs;
        return r;
    }

    // ---- read side ----------------------------------------------------------------------------------------

    /** Whether {@code r} is the calling thread's record (tests run with assertions on; the fault path does not). */
    @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
    private static boolean isMine(Reader r) {
        return r.threadId == Thread.currentThread().getId();
    }

    /** The calling thread's read-side record, for the methods that take one. */
    public Reader reader() {
        return mine.get();
    }

    /** Enters a read section; sections nest. */
    public void readLock() {
        readLock(reader());
    }

    /** {@link #readLock} with the calling thread's {@link #reader}. */
    public void readLock(Reader r) {
        assert isMine(r) : "an RCU reader record of another thread";
        if (r.nesting++ == 0) {
            r.announced = epoch;
        }
    }

    /**
     * {@link #readLock} for a caller that makes a full fence (a volatile store, an atomic update) before its first
     * load of a table entry in the section — a vCPU, whose entry into guest mode comes between ({@link
     * org.tdplab.mmu.tdp.vcpu.GuestMode#enter}): the announcement is a release store, and that fence orders it
     * before the section's loads, as {@link #readLock}'s own volatile store would. A grace period that misses the
     * announcement therefore began before the fence, and its detach is seen by every load after it. Loads before
     * the fence may read only what no grace period frees (tables the caller holds a reference to, headers).
     */
    public void readLockBeforeFence() {
        readLockBeforeFence(reader());
    }

    /** {@link #readLockBeforeFence()} with the calling thread's {@link #reader}. */
    public void readLockBeforeFence(Reader r) {
        assert isMine(r) : "an RCU reader record of another thread";
        if (r.nesting++ == 0) {
            ANNOUNCED.setRelease(r, (long) EPOCH.getVolatile(this));
        }
    }

    /** Leaves a read section; the outermost exit may reclaim tables whose grace period has ended. */
    public void readUnlock() {
        readUnlock(reader());
    }

    /** {@link #readUnlock()} with the calling thread's {@link #reader}. */
    public void readUnlock(Reader r) {
        assert isMine(r) : "an RCU reader record of another thread";
        if (r.nesting <= 0) {
            throw new IllegalStateException("readUnlock without readLock");
        }
        if (--r.nesting == 0) {
            // a release store: the section's loads are done before a writer can see it (no fence, as the kernel's
            // rcu_read_unlock has none); the look for waiters below may see a waiter late (see RECHECK_NANOS)
            ANNOUNCED.setRelease(r, 0L);
            if (waiting.get() != 0) {
                wakeWaiters();
            }
            if (pending != 0) {
                tryReclaim();
            }
        }
    }

    /** Whether the calling thread is inside a read section. */
    public boolean inReadSection() {
        return reader().nesting > 0;
    }

    // ---- update side --------------------------------------------------------------------------------------

    /** Queues a table that is no longer reachable from any root; it is freed after a grace period. */
    public void callRcu(int tableId) {
        // The detach (possibly a release store) must be visible before the epoch moves on.
        VarHandle.fullFence();
        long tag = (long) EPOCH.getAndAdd(this, 1L) + 1;
        queueLock.lock();
        try {
            enqueue(tableId, tag);
            reclaimLocked();
        } finally {
            queueLock.unlock();
        }
    }

    /** Waits until every read section active at the call has ended, then frees what is due. */
    public void synchronize() {
        if (inReadSection()) {
            throw new IllegalStateException("synchronize() inside a read section would wait for itself");
        }
        VarHandle.fullFence();
        long target = (long) EPOCH.getAndAdd(this, 1L) + 1;
        for (int spins = 0; oldestAnnounced() < target; spins++) {
            if (spins < 100) {
                Thread.onSpinWait();
            } else {
                awaitReaders(target);
                break;
            }
        }
        queueLock.lock();
        try {
            reclaimLocked();
        } finally {
            queueLock.unlock();
        }
    }

    /**
     * Parks until no reader announced before {@code target}. The waiter publishes itself before it looks at the
     * readers, and a reader that clears its announcement then looks for waiters and wakes them; that look may come
     * before the clearing is seen (a release store), so a waiter also looks again every {@link #RECHECK_NANOS}.
     */
    private void awaitReaders(long target) {
        Thread me = Thread.currentThread();
        waiting.incrementAndGet();
        waiters.add(me);
        try {
            while (oldestAnnounced() < target) {
                LockSupport.parkNanos(this, recheckNanos);
            }
        } finally {
            waiters.remove(me);
            waiting.decrementAndGet();
        }
    }

    private void wakeWaiters() {
        for (Thread t : waiters) {
            LockSupport.unpark(t);
        }
    }

    /** Tables queued but not yet returned to the pool. */
    public int pendingFrees() {
        return pending;
    }

    private void tryReclaim() {
        if (queueLock.tryLock()) {
            try {
                reclaimLocked();
            } finally {
                queueLock.unlock();
            }
        }
    }

    /** Oldest epoch any reader announced, or {@code Long.MAX_VALUE} when nobody is reading. */
    private long oldestAnnounced() {
        Reader[] rs = readers;
        long min = Long.MAX_VALUE;
        for (int i = 0; i < rs.length; i++) {
            long a = rs[i].announced;
            if (a != 0 && a < min) {
                min = a;
            }
        }
        return min;
    }

    private void enqueue(int id, long tag) {
        if (tail == queuedIds.length) {
            int n = tail - head;
            if (n * 2 > queuedIds.length) {
                queuedIds = Arrays.copyOf(queuedIds, queuedIds.length * 2);
                queuedTags = Arrays.copyOf(queuedTags, queuedTags.length * 2);
            }
            System.arraycopy(queuedIds, head, queuedIds, 0, n);
            System.arraycopy(queuedTags, head, queuedTags, 0, n);
            head = 0;
            tail = n;
        }
        queuedIds[tail] = id;
        queuedTags[tail] = tag;
        tail++;
        pending = tail - head;
    }

    private void reclaimLocked() {
        if (head == tail) {
            return;
        }
        long oldest = oldestAnnounced();
        while (head < tail && queuedTags[head] <= oldest) {
            pool.free(queuedIds[head]);
            head++;
        }
        if (head == tail) {
            head = 0;
            tail = 0;
        }
        pending = tail - head;
    }
}
