package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A TD built directly on a {@link TdxModule}, with memory as a token map and frames handed out from a counter, as
 * KVM would build it (MNG.CREATE, KEY.CONFIG, ADDCX, MNG.INIT, VP.CREATE/ADDCX/INIT).
 */
final class Fixture {
    static final int HKID = 5;
    /** Frames below this are inside the TDMRs. */
    static final long TDMR_LIMIT = 1L << 24;

    final Map<Long, Long> memory = new java.util.concurrent.ConcurrentHashMap<>();
    /** Called on every read of a frame's contents by the module, before it (tests pause a leaf there). */
    volatile java.util.function.LongConsumer onRead = pfn -> { };
    final PageContents frames = new PageContents() {
        @Override
        public long read(long pfn) {
            onRead.accept(pfn);
            return memory.getOrDefault(pfn, 0L);
        }

        @Override
        public void write(long pfn, long token) {
            memory.put(pfn, token);
        }
    };
    final TdxModule m;
    final TdxModule.Regs regs = new TdxModule.Regs();
    final long tdr;
    final List<Long> tdvpr = new ArrayList<>();
    final List<Long> controlPages = new ArrayList<>();
    private long next = 0x1000;

    /** Dynamic PAMT: {@link #page()} adds the pair of a 2M range before it hands out the range's first page. */
    private final boolean dynamicPamt;
    /** Pages for PAMT pairs, far from the TD's. */
    private long nextPairPage = 1L << 20;

    Fixture(TdxAbi.Version version, int gpaw, long attributes, int vcpus, Contention contention) {
        this(version, gpaw, attributes, vcpus, contention, false);
    }

    Fixture(TdxAbi.Version version, int gpaw, long attributes, int vcpus, Contention contention,
            boolean dynamicPamt) {
        this.dynamicPamt = dynamicPamt;
        m = new TdxModule(version, Math.max(vcpus, 1), frames, contention, TDMR_LIMIT, dynamicPamt);
        tdr = page();
        ok(m.tdhMngCreate(tdr, HKID));
        ok(m.tdhMngKeyConfig(tdr));
        for (int i = 0; i < TdxAbi.TDCS_PAGES; i++) {
            long p = page();
            controlPages.add(p);
            ok(m.tdhMngAddcx(p, tdr));
        }
        ok(m.tdhMngInit(tdr, gpaw, attributes));
        for (int v = 0; v < vcpus; v++) {
            long vp = page();
            tdvpr.add(vp);
            ok(m.tdhVpCreate(vp, tdr));
            for (int i = 0; i < TdxAbi.VP_TDCX_PAGES; i++) {
                long p = page();
                controlPages.add(p);
                ok(m.tdhVpAddcx(p, vp));
            }
            ok(m.tdhVpInit(vp));
        }
    }

    /** A 1.5 module, 4-level S-EPT, SEPT_VE_DISABLE, two vCPUs, no contention. */
    Fixture() {
        this(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, Contention.none());
    }

    static Fixture v10() {
        return new Fixture(TdxAbi.Version.V1_0, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, Contention.none());
    }

    /** A fresh 4K frame (HPA); with Dynamic PAMT, in a 2M range that has its pair. */
    long page() {
        if (dynamicPamt && (next & 511) == 0 || dynamicPamt && next == 0x1000)
            ok(m.tdhPhymemPamtAdd((next & ~511L) << 12 | 1, pairPage(), pairPage()));
        return (next++) << 12;
    }

    /** A page for a PAMT pair. */
    long pairPage() {
        return (nextPairPage++) << 12;
    }

    /** A fresh naturally aligned 2M frame (HPA). */
    long page2m() {
        next = (next + 511) & ~511L;
        long hpa = next << 12;
        next += 512;
        return hpa;
    }

    static void ok(long status) {
        assertStatus(TdxStatus.TDX_SUCCESS, status);
    }

    static void assertStatus(long expected, long actual) {
        assertEquals(TdxStatus.name(expected), TdxStatus.name(actual));
        assertEquals(expected, actual);
    }

    static long rcx(long gpa, int level) {
        return gpa | level;
    }

    /** SEPT.ADD for every missing level above {@code level} (4-level: 3, 2, 1 for a 4K leaf). */
    void link(long gpa, int level) {
        for (int l = m.eptLevels() - 1; l > level; l--) {
            long st = m.tdhMemSeptAdd(rcx(gpa & -(1L << (12 + 9 * l)), l), tdr, page(), regs);
            if (st != TdxStatus.TDX_SUCCESS
                    && TdxStatus.classOf(st) != TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT
                    && TdxStatus.classOf(st) != TdxStatus.TDX_EPT_ENTRY_NOT_FREE)
                ok(st);
        }
    }

    /** PAGE.ADD of a 4K page (before finalize), linking tables first; returns the target HPA. */
    long add(long gpa, long token) {
        link(gpa, 0);
        long src = page(), target = page();
        memory.put(src >>> 12, token);
        ok(m.tdhMemPageAdd(gpa, tdr, target, src, regs));
        return target;
    }

    /** PAGE.AUG of a 4K page, linking tables first; returns the HPA. */
    long aug(long gpa) {
        link(gpa, 0);
        long hpa = page();
        ok(m.tdhMemPageAug(rcx(gpa, 0), tdr, hpa, regs));
        return hpa;
    }

    void finalizeTd() {
        ok(m.tdhMrFinalize(tdr));
    }

    /** vCPU {@code v} enters the TD by touching a mapped private page. */
    void enter(int v, long mappedGpa) {
        long r = m.guestTranslate(v, mappedGpa >>> 12, false, true);
        if (r < 0)
            throw new AssertionError("vCPU " + v + " could not run: " + r);
    }

    int state(long gpa, int level) {
        long e = m.view().lookup(gpa >>> 12, level);
        return e < 0 ? -1 : TdxAbi.stateOf(e);
    }

    List<String> violations() {
        List<String> out = new ArrayList<>();
        m.view().check(out);
        return out;
    }
}
