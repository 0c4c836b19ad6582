package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_LIFECYCLE_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OP_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_METADATA_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TDCS_NOT_ALLOCATED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_KEYS_NOT_CONFIGURED;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * The TD-building leaves (TDH.MNG.CREATE … TDH.VP.INIT, VP.FLUSH, VPFLUSHDONE, KEY.FREEID) called out of order or
 * with the wrong page: each returns the status of the first failing row of its table, with the operand named, and
 * changes nothing.
 */
class LifecycleRefusalsTest {
    final Map<Long, Long> memory = new HashMap<>();
    final TdxModule m = new TdxModule(TdxAbi.Version.V1_5, 1, new PageContents() {
        @Override
        public long read(long pfn) {
            return memory.getOrDefault(pfn, 0L);
        }

        @Override
        public void write(long pfn, long token) {
            memory.put(pfn, token);
        }
    }, Contention.none(), Fixture.TDMR_LIMIT);
    private long next = 0x1000;

    long page() {
        return (next++) << 12;
    }

    @Test
    void theTdIsBuiltInItsOrderOnly() {
        long tdr = page(), other = page();
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMngCreate(tdr, 0));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMngCreate(tdr, TdxAbi.MAX_HKID + 1));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhMngKeyConfig(tdr));
        ok(m.tdhMngCreate(tdr, TdxAbi.MAX_HKID));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngCreate(other, 3));

        // the TDR operand: bits outside the HPA, another page
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhMngKeyConfig(tdr | 1L << 60));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhMngKeyConfig(other));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX), m.tdhMngAddcx(page(), other));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMngAddcx(page(), tdr | 1L << 60));
        assertStatus(TDX_TD_KEYS_NOT_CONFIGURED, m.tdhMngAddcx(page(), tdr));
        assertStatus(TDX_TD_KEYS_NOT_CONFIGURED, m.tdhMngInit(tdr, 48, 0));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngVpflushdone(tdr));
        ok(m.tdhMngKeyConfig(tdr));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngKeyConfig(tdr));

        assertStatus(TDX_TDCS_NOT_ALLOCATED, m.tdhMngInit(tdr, 48, 0));
        for (int i = 0; i < TdxAbi.TDCS_PAGES; i++) {
            ok(m.tdhMngAddcx(page(), tdr));
            if (i < TdxAbi.TDCS_PAGES - 1)
                assertStatus(TDX_TDCS_NOT_ALLOCATED, m.tdhMngInit(tdr, 48, 0));
        }
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhMngAddcx(page(), tdr));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhMngInit(other, 48, 0));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMngInit(tdr, 50, 0));
        ok(m.tdhMngInit(tdr, 48, 0));
        assertStatus(TDX_OP_STATE_INCORRECT, m.tdhMngInit(tdr, 48, 0));

        // vCPUs: the TDVPR names the vCPU; TDCX pages up to the module's number; INIT once, with all of them
        long vp = page();
        ok(m.tdhVpCreate(vp, tdr));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhVpCreate(page(), tdr));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX), m.tdhVpAddcx(page(), other));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX), m.tdhVpAddcx(page(), vp | 1L << 60));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhVpInit(other));
        for (int i = 0; i < TdxAbi.VP_TDCX_PAGES; i++) {
            assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhVpInit(vp));
            ok(m.tdhVpAddcx(page(), vp));
        }
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhVpAddcx(page(), vp));
        ok(m.tdhVpInit(vp));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhVpInit(vp));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhVpFlush(other));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhVpFlush(tdr));

        // teardown: VPFLUSHDONE (every vCPU flushed first), CACHE.WB, then KEY.FREEID, each once, in that order
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngKeyFreeid(tdr));
        assertStatus(TdxStatus.TDX_FLUSHVP_NOT_DONE, m.tdhMngVpflushdone(tdr));
        ok(m.tdhVpFlush(vp));
        ok(m.tdhMngVpflushdone(tdr));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngVpflushdone(tdr));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhMngKeyFreeid(other));
        assertStatus(TdxStatus.TDX_WBCACHE_NOT_COMPLETE, m.tdhMngKeyFreeid(tdr));
        ok(m.tdhPhymemCacheWb());
        ok(m.tdhMngKeyFreeid(tdr));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngKeyFreeid(tdr));
    }

    @Test
    void aVcpuRunningOnAnotherCpuCannotBeFlushed() {
        Fixture f = new Fixture();
        long gpa = 0x200000;
        f.add(gpa, 7);
        f.finalizeTd();
        f.enter(0, gpa);
        assertStatus(withOperand(TDX_OPERAND_BUSY, OPERAND_RCX), f.m.tdhVpFlush(f.tdvpr.get(0)));
        f.m.exitAll();
        ok(f.m.tdhVpFlush(f.tdvpr.get(0)));
    }
}
