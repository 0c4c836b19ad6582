package org.tdplab.backend.snp.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * The host's SNP ASIDs ({@code sev_asid_new}, {@code __sev_recycle_asids}), the option numbers and the guest policy
 * {@code snp_launch_start} checks, and the bounded list of what KVM only WARNs about.
 */
class AsidsOptionsAnomaliesTest {
    static Errno errno(Runnable r) {
        return assertThrows(MmuException.class, r::run).errno();
    }

    @Test
    void asidsRunFrom1ToMinSevAsidMinus1() {
        assertThrows(IllegalArgumentException.class, () -> new AsidPool(1));
        assertThrows(IllegalArgumentException.class, () -> new AsidPool(1025));
        AsidPool one = new AsidPool(2);
        assertEquals(1, one.allocate());
        MmuException e = assertThrows(MmuException.class, one::allocate);
        assertEquals(Errno.EBUSY, e.errno());
        assertEquals("all 1 SNP ASIDs (1..1) are in use", e.reason());
        AsidPool most = new AsidPool(1024);
        for (int a = 1; a <= 1023; a++)
            assertEquals(a, most.allocate());
        assertEquals(Errno.EBUSY, errno(most::allocate));
        assertEquals(0, most.dfFlushes());
    }

    @Test
    void aFreedAsidWaitsForTheNextDfFlush() {
        AsidPool pool = new AsidPool(4); // ASIDs 1..3
        assertEquals(1, pool.allocate());
        assertEquals(2, pool.allocate());
        pool.free(1);
        assertEquals(3, pool.allocate(), "a freed ASID is not reused while fresh ones remain");
        assertEquals(0, pool.dfFlushes());
        assertEquals(1, pool.allocate(), "the pool ran dry: SNP_DF_FLUSH recycles the freed ASID");
        assertEquals(1, pool.dfFlushes());
        assertEquals(Errno.EBUSY, errno(pool::allocate), "nothing to recycle: no flush");
        assertEquals(1, pool.dfFlushes());
        pool.free(2);
        pool.free(3);
        assertEquals(2, pool.allocate());
        assertEquals(3, pool.allocate());
        assertEquals(2, pool.dfFlushes(), "one flush recycles every freed ASID");
    }

    @Test
    void aRestoredVmReservesItsAsid() {
        AsidPool pool = new AsidPool(4);
        assertEquals(Errno.EBUSY, errno(() -> pool.reserve(0)));
        assertEquals(Errno.EBUSY, errno(() -> pool.reserve(4)));
        pool.reserve(3);
        assertEquals(Errno.EBUSY, errno(() -> pool.reserve(3)), "in use");
        assertEquals(1, pool.allocate());
        assertEquals(2, pool.allocate());
        pool.free(3);
        pool.reserve(3); // freed, not yet flushed: the VM that left it is the one coming back
        pool.free(1);
        assertEquals(1, pool.allocate(), "the flush recycles 1 only");
        assertEquals(Errno.EBUSY, errno(pool::allocate), "3 stayed reserved through the flush");
        assertEquals(Errno.EBUSY, errno(() -> pool.reserve(1)));
    }

    static SnpOptions policy(String text) {
        return SnpOptions.of(VerbArgs.creation("snp", SnpOptions.OPTIONS, Map.of("policy", text)),
                SnpOptions.defaults());
    }

    @Test
    void thePolicyIsCheckedAsSnpLaunchStartDoes() {
        assertEquals(SnpOptions.DEFAULT_POLICY, SnpOptions.of(VerbArgs.noOptions("snp"), SnpOptions.defaults())
                .policy());
        assertEquals(0x30000, SnpOptions.DEFAULT_POLICY);
        assertEquals(0x1b0000 | 0x1234, policy("0x1b1234").policy(),
                "API version, SMT, must-be-one, debug and single-socket bits");
        MmuException e = assertThrows(MmuException.class, () -> policy("0x70000"));
        assertEquals("policy=0x70000 has bits KVM does not allow: 0x40000", e.reason());
        e = assertThrows(MmuException.class, () -> policy("0x10000"));
        assertEquals("policy=0x10000 lacks bit 17, which must be one", e.reason());
        assertEquals(0x130000, SnpOptions.of(VerbArgs.noOptions("snp"), new SnpOptions(0x130000)).policy(),
                "the backend's configured default when the VM names none");
    }

    @Test
    void warningsAreKeptUpTo32ThenCounted() {
        Anomalies a = new Anomalies();
        assertEquals(List.of(), a.lines());
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            a.add("w" + i);
            expected.add("w" + i);
        }
        assertEquals(expected, a.lines());
        assertEquals(0, a.dropped());
        a.add("w32");
        a.add("w33");
        assertEquals(expected, a.kept());
        assertEquals(2, a.dropped());
        List<String> lines = a.lines();
        assertEquals(33, lines.size());
        assertEquals("… and 2 more", lines.get(32));

        Anomalies restored = new Anomalies();
        restored.restore(a.kept(), a.dropped());
        assertEquals(lines, restored.lines());
        restored.add("one more");
        assertEquals(3, restored.dropped());
        assertTrue(restored.lines().get(32).contains("3 more"));
    }
}
