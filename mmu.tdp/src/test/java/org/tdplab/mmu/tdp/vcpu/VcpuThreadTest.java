package org.tdplab.mmu.tdp.vcpu;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.mmu.MmuLock;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.sync.StripedRwLock;

/**
 * A vCPU's records in its VM's per-thread structures ({@link VcpuThread}): always the records of the thread that
 * asks, found again when another thread ran the vCPU last, and the same objects the structures find themselves.
 */
class VcpuThreadTest {
    private final TablePool pool = new TablePool(TableFrames.sequential(0x1000));
    private final Rcu rcu = new Rcu(pool), srcu = new Rcu(pool);
    private final MmuLock mmuLock = new MmuLock();
    private final StripedRwLock gate = new StripedRwLock();

    private VcpuThread attached() {
        VcpuThread t = new VcpuThread();
        t.attach(rcu, srcu, mmuLock, gate);
        return t;
    }

    @Test
    void theRecordsAreTheCallersOwn() {
        VcpuThread t = attached().mine();
        assertSame(rcu.reader(), t.rcu);
        assertSame(srcu.reader(), t.srcu);
        assertNotSame(t.rcu, t.srcu);
        assertSame(mmuLock.holder(), t.mmuLock);
        assertSame(gate.holder(), t.gate());
        // a section entered through the record is the thread's own section
        rcu.readLock(t.rcu);
        assertTrue(rcu.inReadSection());
        rcu.readUnlock(t.rcu);
        assertFalse(rcu.inReadSection());
        mmuLock.readLock(t.mmuLock);
        assertTrue(mmuLock.isReadLockedByMe());
        mmuLock.readUnlock(t.mmuLock);
        assertFalse(mmuLock.isReadLockedByMe());
    }

    @Test
    void anotherThreadFindsItsOwn() throws Exception {
        VcpuThread t = attached().mine();
        StripedRwLock.Holder mine = t.gate();
        AtomicReference<Object[]> seen = new AtomicReference<>();
        Thread other = new Thread(() -> {
            Object gateBefore = t.gate(); // the vCPU last ran on the test's thread: not that thread's record
            t.mine();
            seen.set(new Object[] { gateBefore, gate.holder(), t.gate(), t.rcu, rcu.reader(), t.mmuLock,
                    mmuLock.holder() });
        });
        other.start();
        other.join();
        Object[] s = seen.get();
        assertSame(s[1], s[0]);
        assertSame(s[1], s[2]);
        assertNotSame(mine, s[2]);
        assertSame(s[4], s[3]);
        assertSame(s[6], s[5]);
        // back on this thread: its own records again, before and after mine()
        assertSame(mine, t.gate());
        assertSame(rcu.reader(), t.mine().rcu);
        assertSame(mmuLock.holder(), t.mmuLock);
    }
}
