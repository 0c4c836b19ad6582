package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;

/** The root list: the one root-type filter every walk over roots uses, and root loading as a vCPU does it. */
class RootsTest {
    private final List<String> bugs = new ArrayList<>();
    private final TdpMmu mmu = new TdpMmu(VmCapabilities.ordinary("default", 48),
            new TablePool(TableFrames.sequential(0x1000)), new MmuHost() {
                @Override
                public void bug(String reason) {
                    bugs.add(reason);
                }

                @Override
                public boolean bugged() {
                    return !bugs.isEmpty();
                }

                @Override
                public VmBackend backend() {
                    return new VmBackend() {
                    };
                }

                @Override
                public void flushRemoteTlbs(long gfn, long npages) {
                }

                @Override
                public void requestRootReload() {
                }

                @Override
                public void traceSpteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
                }
            });

    @Test
    void theFilterSelectsByKindAndValidity() {
        int direct = mmu.roots.get(false), mirror = mmu.roots.get(true);
        assertArrayEquals(new int[] { direct }, mmu.roots.of(Roots.DIRECT_ROOTS));
        assertArrayEquals(new int[] { mirror }, mmu.roots.of(Roots.MIRROR_ROOTS));
        assertArrayEquals(new int[] { direct, mirror }, mmu.roots.of(Roots.VALID_ROOTS));
        assertArrayEquals(new int[0], mmu.roots.of(Roots.INVALID_ROOTS));
        assertEquals(direct, mmu.roots.get(false), "the valid root of a kind is shared");

        mmu.lock.writeLock();
        try {
            assertArrayEquals(new int[] { direct }, mmu.roots.invalidate(Roots.DIRECT_ROOTS));
        } finally {
            mmu.lock.writeUnlock();
        }
        assertArrayEquals(new int[0], mmu.roots.of(Roots.DIRECT_ROOTS));
        assertArrayEquals(new int[] { direct }, mmu.roots.of(Roots.INVALID_ROOTS));
        assertArrayEquals(new int[] { direct, mirror }, mmu.roots.of(Roots.ALL_ROOTS));
        assertArrayEquals(new int[] { mirror }, mmu.roots.of(Roots.VALID_ROOTS));
        assertEquals(RootKind.MIRROR, mmu.roots.kindOf(mirror));
        assertEquals(0, mmu.roots.gfnBits(mirror));
        assertTrue(bugs.isEmpty(), bugs.toString());
    }

    @Test
    void aFreedRootLeavesTheListWhereverItStands() {
        int first = mmu.roots.get(false), mirror = mmu.roots.get(true);
        mmu.lock.writeLock();
        try {
            mmu.roots.invalidate(Roots.DIRECT_ROOTS);
            int last = mmu.roots.get(false);
            assertArrayEquals(new int[] { first, mirror, last }, mmu.roots.of(Roots.ALL_ROOTS));
            mmu.roots.put(first); // the caller's reference
            assertArrayEquals(new int[] { first, mirror, last }, mmu.roots.of(Roots.ALL_ROOTS), "one is left");
            mmu.roots.put(first); // the MMU's: the last
            assertArrayEquals(new int[] { mirror, last }, mmu.roots.of(Roots.ALL_ROOTS));
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(1, mmu.stats.get(Stat.ROOTS_FREED));
        assertTrue(bugs.isEmpty(), bugs.toString());
    }

    @Test
    void aVcpuLoadsItsRootOnceAndReloadsAnObsoleteOne() {
        VcpuRoots v = new VcpuRoots();
        assertTrue(mmu.roots.load(v), "a new root: the vCPU flushes its TLB");
        int first = v.direct;
        assertFalse(mmu.roots.load(v), "nothing to do");
        assertEquals(first, v.direct);
        assertEquals(0, v.mirror, "no mirror root for a VM without mirrored tables");
        assertEquals(first, mmu.roots.forFault(v, true), "private faults use the direct root without a mirror");
        assertFalse(mmu.routing.followsMirror(true));

        mmu.lock.writeLock();
        try {
            mmu.roots.invalidate(Roots.DIRECT_ROOTS);
        } finally {
            mmu.lock.writeUnlock();
        }
        assertTrue(mmu.roots.load(v), "an invalid root is dropped and a new one loaded");
        assertNotEquals(first, v.direct);
        mmu.lock.readLock();
        try {
            mmu.roots.release(v);
        } finally {
            mmu.lock.readUnlock();
        }
        assertEquals(0, v.direct);
        assertTrue(bugs.isEmpty(), bugs.toString());
    }
}
