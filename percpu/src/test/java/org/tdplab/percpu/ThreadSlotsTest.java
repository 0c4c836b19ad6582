package org.tdplab.percpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

class ThreadSlotsTest {
    private static final class Rec extends ThreadSlots.Owned {
        Rec(long threadId) {
            super(threadId);
        }
    }

    @SuppressWarnings("deprecation")
    private static long me() {
        return Thread.currentThread().getId();
    }

    @Test
    void aThreadFindsItsRecordAgainWithoutTheSlowWay() {
        AtomicInteger slow = new AtomicInteger();
        ThreadSlots<Rec> slots = new ThreadSlots<>(id -> {
            slow.incrementAndGet();
            return new Rec(id);
        });
        Rec first = slots.get();
        assertEquals(me(), first.threadId);
        assertSame(first, slots.get());
        assertEquals(1, slow.get());
    }

    /** More threads than slots: some share a slot, and each always gets its own record, never the other's. */
    @Test
    void threadsSharingASlotEachGetTheirOwn() throws Exception {
        int n = 150;
        ConcurrentHashMap<Long, Rec> made = new ConcurrentHashMap<>();
        ThreadSlots<Rec> slots = new ThreadSlots<>(id -> made.computeIfAbsent(id, Rec::new));
        CyclicBarrier together = new CyclicBarrier(n);
        List<Throwable> failures = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < n; t++)
            threads.add(new Thread(() -> {
                try {
                    for (int round = 0; round < 3; round++) {
                        Rec r = slots.get();
                        if (r.threadId != me() || r != made.get(me()))
                            throw new AssertionError("thread " + me() + " got the record of " + r.threadId);
                        together.await(); // every thread stores into its slot between two of another's looks
                    }
                } catch (Throwable e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                    together.reset(); // the others stop waiting for this one (and fail too)
                }
            }));
        threads.forEach(Thread::start);
        for (Thread t : threads)
            t.join();
        assertEquals(List.of(), failures.stream().map(Throwable::toString).toList());
        assertEquals(n, made.size());
    }

    /**
     * A record's own fields lie 128 bytes or more past the object's start ({@link ThreadSlots.Owned}'s padding), so
     * that they never share a cache line with the end of the object before it (another thread's record, once a
     * collection has copied the records of one array side by side). Fails without the padding (offset 24).
     */
    @Test
    void aRecordsFieldsLieAPaddingPastItsStart() throws Exception {
        class Hot extends ThreadSlots.Owned {
            @SuppressWarnings("unused")
            int count;

            Hot(long threadId) {
                super(threadId);
            }
        }
        java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);
        long at = u.objectFieldOffset(Hot.class.getDeclaredField("count"));
        org.junit.jupiter.api.Assertions.assertTrue(at >= 128, "the subclass's field lies " + at + " bytes in");
    }
}
