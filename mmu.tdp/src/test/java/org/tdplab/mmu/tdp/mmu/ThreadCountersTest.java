package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class ThreadCountersTest {
    @Test
    void oneThreadsCountsAddUpPerCounter() {
        ThreadCounters c = new ThreadCounters(3);
        c.increment(0);
        c.add(0, 4);
        c.add(2, -1);
        assertEquals(5, c.sum(0));
        assertEquals(0, c.sum(1));
        assertEquals(-1, c.sum(2));
    }

    @Test
    void aCounterBeyondTheWidthGrowsTheRowAndKeepsItsCounts() {
        ThreadCounters c = new ThreadCounters(1);
        c.add(0, 7);
        c.add(40, 2);
        c.add(40, 3);
        assertEquals(7, c.sum(0));
        assertEquals(5, c.sum(40));
        assertEquals(0, c.sum(39));
        assertEquals(0, c.sum(1000)); // never counted: no row reaches it
    }

    @Test
    void threadsCountInRowsOfTheirOwnAndTheSumIsExactAfterTheyEnd() throws InterruptedException {
        ThreadCounters c = new ThreadCounters(2);
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
    void threadsPastTheLastRowShareOneAndLoseNothing() throws InterruptedException {
        ThreadCounters c = new ThreadCounters(1);
        int n = ThreadCounters.MAX_ROWS + 40;
        for (int batch = 0; batch < n; batch += 20) { // a few at a time, so some of them share at once
            List<Thread> threads = new ArrayList<>();
            for (int t = batch; t < Math.min(n, batch + 20); t++)
                threads.add(new Thread(() -> {
                    for (int i = 0; i < 500; i++)
                        c.add(i % 3, 1); // counters 1 and 2 grow the rows, the shared one too
                }));
            threads.forEach(Thread::start);
            for (Thread t : threads)
                t.join();
        }
        long perThread = 500;
        assertEquals(n * perThread, c.sum(0) + c.sum(1) + c.sum(2));
        assertEquals(n * 167L, c.sum(0));
    }
}
