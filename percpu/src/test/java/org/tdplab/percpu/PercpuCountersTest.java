package org.tdplab.percpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;

class PercpuCountersTest {
    @Test
    void oneThreadsCountsAddUpPerCounter() {
        PercpuCounters c = new PercpuCounters(3);
        c.increment(0);
        c.add(0, 4);
        c.add(2, -1);
        assertEquals(5, c.sum(0));
        assertEquals(0, c.sum(1));
        assertEquals(-1, c.sum(2));
    }

    /** Adds through the row looked up once count as the plain ones do, growing the row the same way. */
    @Test
    void addsThroughTheCallersRowCountLikeTheLookedUpOnes() {
        PercpuCounters c = new PercpuCounters(1);
        PercpuCounters.Row r = c.row();
        c.addVolatile(r, 0, 3);
        c.add(r, 0, -1);
        c.add(r, 7, 5); // beyond the width: the row grows
        c.add(7, 1);
        assertEquals(2, c.sum(0));
        assertEquals(6, c.sum(7));
        assertTrue(c.row() == r, "the same thread, the same row");
        PercpuCounter one = new PercpuCounter();
        PercpuCounters.Row mine = one.row();
        one.addVolatile(mine, 1);
        one.add(mine, 1);
        one.add(-1);
        assertEquals(1, one.sum());
    }

    @Test
    void aCounterBeyondTheWidthGrowsTheRowAndKeepsItsCounts() {
        PercpuCounters c = new PercpuCounters(1);
        c.add(0, 7);
        c.add(40, 2);
        c.add(40, 3);
        assertEquals(7, c.sum(0));
        assertEquals(5, c.sum(40));
        assertEquals(0, c.sum(39));
        assertEquals(0, c.sum(1000)); // never counted: no row reaches it
    }

    @Test
    void aPairAddCountsBothCountersGrowsTheRowForTheLargerAndAddsTwiceToOne() {
        PercpuCounters c = new PercpuCounters(1);
        c.add(0, 1, 0, 1);
        c.add(9, 3, 2, 300);
        c.add(2, 5, 9, 1);
        assertEquals(2, c.sum(0));
        assertEquals(305, c.sum(2));
        assertEquals(4, c.sum(9));
        assertEquals(0, c.sum(1));
    }

    @Test
    void threadsCountInRowsOfTheirOwnAndTheSumIsExactAfterTheyEnd() throws InterruptedException {
        PercpuCounters c = new PercpuCounters(2);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            int id = t;
            threads.add(new Thread(() -> {
                for (int i = 0; i < 10_000; i++) {
                    c.increment(0);
                    c.add(1 + id % 2, 2); // odd and even threads count apart, in counters the rows grow to
                }
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads)
            t.join();
        assertEquals(80_000, c.sum(0));
        assertEquals(80_000, c.sum(1));
        assertEquals(80_000, c.sum(2));
    }

    @Test
    void threadsPastTheLastRowTakeOverRowsAndLoseNothing() throws InterruptedException {
        PercpuCounters c = new PercpuCounters(1);
        int n = PercpuCounters.MAX_ROWS + 40;
        for (int batch = 0; batch < n; batch += 20) { // a few at a time: later ones take over rows, some at once
            List<Thread> threads = new ArrayList<>();
            for (int t = batch; t < Math.min(n, batch + 20); t++)
                threads.add(new Thread(() -> {
                    for (int i = 0; i < 500; i++)
                        c.add(i % 3, 1); // counters 1 and 2 grow the rows, taken-over ones too
                }));
            threads.forEach(Thread::start);
            for (Thread t : threads)
                t.join();
        }
        long perThread = 500;
        assertEquals(n * perThread, c.sum(0) + c.sum(1) + c.sum(2));
        assertEquals(n * 167L, c.sum(0));
    }

    @Test
    void aCountIsTheSumOfEveryThreadsAddsAndSetPutsItInTheCallersRow() throws InterruptedException {
        PercpuCounter c = new PercpuCounter();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 20; t++) {
            int id = t;
            threads.add(new Thread(() -> {
                for (int k = 0; k < 10_000; k++)
                    if (id % 2 == 0)
                        c.add(3);
                    else
                        c.addVolatile(-1);
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads)
            t.join();
        assertEquals(10 * 10_000 * 3 - 10 * 10_000, c.sum());
        c.set(7); // the other threads' rows to zero, this one's to 7
        assertEquals(7, c.sum());
        onNewThread(() -> c.add(-7)); // a row of its own: the sum is zero, the rows are not
        assertEquals(0, c.sum());
        c.set(0);
        assertEquals(0, c.sum());
    }

    @Test
    void setZeroesEveryRowAtThatIndexOnlyEvenInRowsThatStayNarrower() throws InterruptedException {
        PercpuCounters c = new PercpuCounters(2);
        onNewThread(() -> {
            c.add(1, 10);
            c.add(6, 20); // grows this row past the narrow one's width
        });
        onNewThread(() -> c.add(1, 100));
        assertArrayEquals(new long[] { 0, 110, 0, 0, 0, 0, 20 }, c.sums(7));
        assertArrayEquals(new long[] { 0, 110 }, c.sums(2));
        c.set(6, 4); // the narrow row has no counter 6: nothing to zero there
        c.set(1, -2);
        assertEquals(-2, c.sum(1));
        assertEquals(4, c.sum(6));
        assertEquals(0, c.sum(0));
    }

    @Test
    void pastTheLimitANewThreadTakesOverTheRowOfOneThatEnded() throws InterruptedException {
        PercpuCounters c = new PercpuCounters(1);
        boolean[] shared = new boolean[PercpuCounters.MAX_ROWS + 3];
        for (int t = 0; t < shared.length; t++) { // one after the other: each ends before the next
            int id = t;
            onNewThread(() -> {
                c.add(3, 1);
                shared[id] = c.onSharedRow();
            });
        }
        for (int t = 0; t < shared.length; t++)
            assertFalse(shared[t], "thread " + t + " counted in the shared row");
        assertEquals(PercpuCounters.MAX_ROWS, c.rows());
        assertEquals(PercpuCounters.MAX_ROWS + 3, c.sum(3), "the rows taken over kept their counts");
        c.set(3, 0);
        assertEquals(0, c.sum(3));
    }

    @Test
    void whileEveryRowsThreadLivesTheLaterOnesShareARowAndSetReachesIt() throws InterruptedException {
        PercpuCounters c = new PercpuCounters(1);
        CountDownLatch end = new CountDownLatch(1);
        List<Thread> living = new ArrayList<>();
        for (int t = 0; t < PercpuCounters.MAX_ROWS; t++) {
            CountDownLatch counted = new CountDownLatch(1);
            Thread x = new Thread(() -> {
                c.add(2, 1);
                counted.countDown();
                awaitQuietly(end);
            });
            x.start();
            counted.await();
            living.add(x);
        }
        boolean[] shared = new boolean[3];
        for (int t = 0; t < shared.length; t++) { // no row free: the shared one, at an index its cells grow to
            int id = t;
            onNewThread(() -> {
                c.addVolatile(2, 4);
                c.add(2, 6, 4, 1); // a pair on the shared row too, growing it
                PercpuCounters.Row r = c.row(); // the shared row, counted under its lock
                c.addVolatile(r, 2, 10);
                c.add(r, 2, -10);
                shared[id] = c.onSharedRow();
            });
            assertTrue(shared[id], "thread " + id + " found a row while every row's thread lives");
        }
        assertEquals(PercpuCounters.MAX_ROWS, c.rows());
        assertEquals(PercpuCounters.MAX_ROWS + 30, c.sum(2));
        assertArrayEquals(new long[] { 0, 0, PercpuCounters.MAX_ROWS + 30, 0, 3 }, c.sums(5));
        end.countDown();
        for (Thread x : living)
            x.join();
        c.set(2, 5);
        assertEquals(5, c.sum(2));
    }

    /** Runs {@code action} on a thread of its own, to its end. */
    private static void onNewThread(Runnable action) throws InterruptedException {
        Thread t = new Thread(action);
        t.start();
        t.join();
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
