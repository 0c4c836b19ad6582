package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.backend.tdx.module.Contention;
import org.tdplab.backend.tdx.module.SeptCpuWalk;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;

/**
 * A vCPU's paging-structure cache of S-EPT pages against the page leaving the tree: vCPU 0 walks to a mapped page
 * whose page of 4K entries it cached, while the host removes the page (BLOCK, TRACK + kick, REMOVE), then the S-EPT
 * page itself (BLOCK of its link, TRACK + kick, SEPT.REMOVE), and links the freed page again for another region, where
 * vCPU 1 accepts a page at the same index. A walk of vCPU 0 may translate the old page or fault, never reach the new
 * region's page through its stale cache: the flush at its TD entry after the TRACK (and, for its one more walk
 * after the kick, the unlocked walk's epoch check) keep it from that. On the TDX module alone, with the kick as KVM
 * does it (snapshot, wait for the vCPU's guest-mode section, count out).
 */
@ExtendWith(FrayTestExtension.class)
class SeptWalkCacheRaceTest {
    private static final long M2 = 2L << 20, M4 = 4L << 20;

    /** A TD on a module of its own (frames from a counter, memory as a map), finalized with one page at 2M. */
    private static final class Td {
        final Map<Long, Long> memory = new ConcurrentHashMap<>();
        final TdxModule m = new TdxModule(TdxAbi.Version.V1_5, 2, new TdxModule.Frames() {
            @Override
            public long read(long pfn) {
                return memory.getOrDefault(pfn, 0L);
            }

            @Override
            public void write(long pfn, long token) {
                memory.put(pfn, token);
            }
        }, Contention.none());
        final TdxModule.Regs regs = new TdxModule.Regs();
        final long tdr;
        /** vCPU 0's guest-mode sections: odd while it is inside one (the kick waits for that one to end). */
        final AtomicLong sections = new AtomicLong();
        private long next = 0x1000;

        Td() {
            tdr = page();
            ok(m.tdhMngCreate(tdr, 5));
            ok(m.tdhMngKeyConfig(tdr));
            for (int i = 0; i < TdxAbi.TDCS_PAGES; i++)
                ok(m.tdhMngAddcx(page(), tdr));
            ok(m.tdhMngInit(tdr, 48, TdxAbi.ATTR_SEPT_VE_DISABLE));
            for (int v = 0; v < 2; v++) {
                long vp = page();
                ok(m.tdhVpCreate(vp, tdr));
                for (int i = 0; i < TdxAbi.VP_TDCX_PAGES; i++)
                    ok(m.tdhVpAddcx(page(), vp));
                ok(m.tdhVpInit(vp));
            }
            link(M2);
            long src = page();
            memory.put(src >>> 12, 0x11L);
            ok(m.tdhMemPageAdd(M2, tdr, page(), src, regs));
            ok(m.tdhMrFinalize(tdr));
        }

        long page() {
            return (next++) << 12;
        }

        static void ok(long status) {
            expect(status == TdxStatus.TDX_SUCCESS, TdxStatus.name(status));
        }

        /** SEPT.ADD of each missing level above the 4K entry of {@code gpa}. */
        void link(long gpa) {
            for (int l = 3; l > 0; l--) {
                long st = m.tdhMemSeptAdd(gpa & -(1L << (12 + 9 * l)) | l, tdr, page(), regs);
                expect(st == TdxStatus.TDX_SUCCESS || TdxStatus.classOf(st) == TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT,
                        TdxStatus.name(st));
            }
        }

        /** {@code tdx_track}: TRACK, then the kick (snapshot, vCPU 0's section in progress ends, count out). */
        void trackAndKick() {
            ok(m.tdhMemTrack(tdr));
            long[] snapshot = new long[2];
            boolean anyInside = m.snapshotEntries(snapshot);
            long s = sections.get();
            while ((s & 1) == 1 && sections.get() == s)
                Thread.yield();
            if (anyInside)
                m.exitedSince(snapshot);
        }

        /** vCPU 0's access to {@code gpa}: its walk in a guest-mode section, under the lock where it must enter. */
        long walk(long gpa) {
            sections.incrementAndGet();
            try {
                long r = SeptCpuWalk.translateUnlocked(m, 0, gpa >>> 12, false);
                if (r == SeptCpuWalk.LOCKED) {
                    m.lock.lockExclusive();
                    try {
                        r = m.guestTranslate(0, gpa >>> 12, false, true);
                    } finally {
                        m.lock.unlockExclusive();
                    }
                }
                return r;
            } finally {
                sections.incrementAndGet();
            }
        }
    }

    @ConcurrencyTest(iterations = 200)
    void aCachedPageLeavesTheTreeWhileTheVcpuWalks() throws Exception {
        Td td = new Td();
        long mapped = td.walk(M2); // vCPU 0 enters; its cache holds the S-EPT page of the region at 2M
        expect(mapped >= 0, "the page at 2M translates: " + mapped);
        Lab.parallel(() -> {
            for (int i = 0; i < 2; i++) {
                long r = td.walk(M2);
                expect(r == mapped || r < 0, "vCPU 0 reached 0x" + Long.toHexString(r) + " for 2M, mapped at 0x"
                        + Long.toHexString(mapped));
            }
        }, () -> {
            Td.ok(td.m.tdhMemRangeBlock(M2, td.tdr, td.regs));
            td.trackAndKick();
            Td.ok(td.m.tdhMemPageRemove(M2, td.tdr, td.regs));
            Td.ok(td.m.tdhMemRangeBlock(M2 | 1, td.tdr, td.regs)); // the link above: NL_BLOCKED
            td.trackAndKick();
            Td.ok(td.m.tdhMemSeptRemove(M2 | 1, td.tdr, td.regs)); // the S-EPT page is freed
            td.link(M4); // and linked again for the region at 4M
            Td.ok(td.m.tdhMemPageAug(M4, td.tdr, td.page(), td.regs));
            Td.ok(td.m.tdgMemPageAccept(1, M4, true)); // a MAPPED entry at the index 2M had
        });
        long after = td.walk(M2);
        expect(after < 0, "after the removal vCPU 0 reached 0x" + Long.toHexString(after) + " for 2M");
    }
}
