package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.*;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Dynamic PAMT in the module (intel/tdx-module {@code tdh_phymem_pamt_add.c}, {@code tdh_phymem_pamt_remove.c}, the
 * missing-pair check of a new page): a 4K page is handed over only in a 2M range with a pair; ADD and REMOVE check
 * the range and the pair's pages.
 */
class DynamicPamtTest {
    private final Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 1, Contention.none(),
            true);
    private final TdxModule m = f.m;

    /** A 2M range no page of the fixture's lies in. */
    private static final long EMPTY_RANGE = 64L << 21;

    @Test
    void theLeavesDoNotExistWithoutDynamicPamt() {
        Fixture plain = new Fixture();
        assertStatus(TDX_OPERAND_INVALID, plain.m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, plain.page(), plain.page()));
        assertStatus(TDX_OPERAND_INVALID, plain.m.tdhPhymemPamtRemove(EMPTY_RANGE | 1, plain.regs));
    }

    @Test
    void aFourKPageNeedsThePairOfItsRange() {
        f.finalizeTd();
        f.link(0, 0);
        long hpa = EMPTY_RANGE + 0x5000;
        assertStatus(withOperand(TDX_MISSING_PAMT_PAGE_PAIR, OPERAND_R8), m.tdhMemPageAug(rcx(0, 0), f.tdr, hpa,
                f.regs));
        assertEquals(Pamt.PT_NDA, m.view().pamtEntry(hpa >>> 12) & 0xF, "a failed AUG changes nothing");
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, f.pairPage(), f.pairPage()));
        ok(m.tdhMemPageAug(rcx(0, 0), f.tdr, hpa, f.regs));
        assertEquals(List.of(), check());
    }

    @Test
    void addRefusesABadRangeAndPagesThatAreNotFree() {
        long p0 = f.pairPage(), p1 = f.pairPage();
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhPhymemPamtAdd(EMPTY_RANGE, p0, p1));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhPhymemPamtAdd(EMPTY_RANGE + 0x1000 | 1, p0,
                p1));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, p0 + 8, p1));
        assertStatus(withOperand(TDX_PAGE_NOT_FREE, OPERAND_R8), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, p0, p0));
        assertStatus(withOperand(TDX_PAGE_NOT_FREE, OPERAND_RDX), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, f.tdr, p1));
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, p0, p1));
        assertStatus(withOperand(TDX_HPA_RANGE_NOT_FREE, OPERAND_RCX), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1,
                f.pairPage(), f.pairPage()));
        assertStatus(withOperand(TDX_PAGE_NOT_FREE, OPERAND_RDX), m.tdhPhymemPamtAdd(EMPTY_RANGE + (1L << 21) | 1,
                p1, f.pairPage()));
        f.finalizeTd();
        f.link(0, 0);
        // a pair's page in a range without a pair: the walk stops at the 2M entry
        assertStatus(withOperand(TDX_MISSING_PAMT_PAGE_PAIR, OPERAND_R8), m.tdhMemPageAug(rcx(0, 0), f.tdr, p0,
                f.regs));
        long inPairedRange = f.page(); // the fixture's ranges have their pairs
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE + (2L << 21) | 1, inPairedRange, f.pairPage()));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), m.tdhMemPageAug(rcx(0, 0), f.tdr,
                inPairedRange, f.regs));
    }

    @Test
    void theRangeAndThePairMustBeInsideTheTdmrs() {
        long limit = Fixture.TDMR_LIMIT << 12, lastRange = limit - (1L << 21);
        assertStatus(withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RDX), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1,
                limit, f.pairPage()));
        assertStatus(withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_R8), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1,
                f.pairPage(), limit));
        assertStatus(withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX), m.tdhPhymemPamtAdd(limit | 1,
                f.pairPage(), f.pairPage()));
        assertStatus(withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX), m.tdhPhymemPamtRemove(limit | 1,
                f.regs));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhPhymemPamtAdd(EMPTY_RANGE | 1
                | 1L << TdxAbi.KEYID_SHIFT, f.pairPage(), f.pairPage()));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhPhymemPamtRemove(EMPTY_RANGE | 1
                | 1L << TdxAbi.KEYID_SHIFT, f.regs));
        ok(m.tdhPhymemPamtAdd(lastRange | 1, limit - 0x1000, limit - 0x2000)); // the last range and pages in
        ok(m.tdhPhymemPamtRemove(lastRange | 1, f.regs));
    }

    @Test
    void removeNamesThePairPageWhoseEntriesAreInUse() {
        f.finalizeTd();
        f.link(0, 0);
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, f.pairPage(), f.pairPage()));
        long upper = EMPTY_RANGE + 300 * 0x1000; // entries 256-511 are in the pair's second page
        ok(m.tdhMemPageAug(rcx(0, 0), f.tdr, upper, f.regs));
        assertStatus(withOperand(TDX_PAMT_PAGE_NOT_EMPTY, 1), m.tdhPhymemPamtRemove(EMPTY_RANGE | 1, f.regs));
        ok(m.tdhMemPageAug(rcx(0x1000, 0), f.tdr, EMPTY_RANGE + 511 * 0x1000, f.regs));
        assertStatus(withOperand(TDX_PAMT_PAGE_NOT_EMPTY, 1), m.tdhPhymemPamtRemove(EMPTY_RANGE | 1, f.regs));
    }

    @Test
    void removeGivesThePairBackOnlyWhenEveryPageOfTheRangeIsFree() {
        long tdrRange = f.tdr & ~((1L << 21) - 1);
        assertStatus(withOperand(TDX_PAMT_PAGE_NOT_EMPTY, 0), m.tdhPhymemPamtRemove(tdrRange | 1, f.regs));
        assertStatus(withOperand(TDX_NO_PAMT_PAGE_PAIR, OPERAND_RCX), m.tdhPhymemPamtRemove(EMPTY_RANGE | 1,
                f.regs));
        long p0 = f.pairPage(), p1 = f.pairPage();
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, p0, p1));
        ok(m.tdhPhymemPamtRemove(EMPTY_RANGE | 1, f.regs));
        assertEquals(p0, f.regs.rdx);
        assertEquals(p1, f.regs.r8);
        assertStatus(withOperand(TDX_NO_PAMT_PAGE_PAIR, OPERAND_RCX), m.tdhPhymemPamtRemove(EMPTY_RANGE | 1,
                f.regs));
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, p1, p0)); // the pages are free again
    }

    @Test
    void aHugePageTakesARangeWithoutAPair() {
        f.finalizeTd();
        f.link(0, 1);
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, f.pairPage(), f.pairPage()));
        assertStatus(withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), m.tdhMemPageAug(rcx(0, 1), f.tdr,
                EMPTY_RANGE, f.regs));
        long free2m = EMPTY_RANGE + (1L << 21);
        ok(m.tdhMemPageAug(rcx(0, 1), f.tdr, free2m, f.regs));
        assertStatus(withOperand(TDX_HPA_RANGE_NOT_FREE, OPERAND_RCX), m.tdhPhymemPamtAdd(free2m | 1, f.pairPage(),
                f.pairPage()));
        assertEquals(List.of(), check());
    }

    @Test
    void theCheckerSeesAPageWithoutAPairAndThePairsSurviveASnapshot() {
        assertEquals(List.of(), check());
        ModuleState state = m.saveState();
        TdxModule copy = TdxModule.loadState(state, f.frames, Contention.none());
        assertTrue(copy.view().dynamicPamt());
        assertEquals(m.saveState().pamt().pairs().length, copy.saveState().pamt().pairs().length);
        assertStatus(withOperand(TDX_HPA_RANGE_NOT_FREE, OPERAND_RCX), copy.tdhPhymemPamtAdd(
                (f.tdr & ~((1L << 21) - 1)) | 1, f.pairPage(), f.pairPage()));
        assertFalse(new Fixture().m.view().dynamicPamt());
    }

    @Test
    void theCheckerSeesAPairPageTakenForSomethingElse() {
        long p0 = f.pairPage(), p1 = f.pairPage();
        ok(m.tdhPhymemPamtAdd(EMPTY_RANGE | 1, p0, p1));
        assertEquals(List.of(), check());
        m.pamt.set(p1 >>> 12, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_REG, Pamt.SIZE_4K, TdxAbi.TD_ID, 0)); // a model bug
        List<String> found = check();
        assertTrue(found.stream().anyMatch(v -> v.startsWith("tdx D1: page 0x" + Long.toHexString(p1)
                + " of the PAMT pair of range 0x" + Long.toHexString(EMPTY_RANGE) + " is REG")), found::toString);
    }

    private List<String> check() {
        List<String> out = new ArrayList<>();
        m.view().check(out);
        return out;
    }

    @Test
    void a2MPagesDemoteTakesThePairOfItsRangeForItsNewFourKEntries() {
        long m2 = 2L << 20;
        f.finalizeTd();
        f.link(m2, 1);
        long big = f.page2m(); // a 2M page's range has no pair: its PAMT is the 2M entries
        ok(m.tdhMemPageAug(rcx(m2, 1), f.tdr, big, f.regs));
        ok(m.tdhMemRangeBlock(rcx(m2, 1), f.tdr, f.regs));
        ok(m.tdhMemTrack(f.tdr));
        long sept = f.page(), p0 = f.pairPage(), p1 = f.pairPage();
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_R12), m.tdhMemPageDemote(rcx(m2, 1), f.tdr, sept,
                p0 + 8, p1, f.regs));
        assertStatus(withOperand(TDX_PAGE_NOT_FREE, OPERAND_R13), m.tdhMemPageDemote(rcx(m2, 1), f.tdr, sept, p0,
                p0, f.regs));
        assertStatus(withOperand(TDX_PAGE_NOT_FREE, OPERAND_R12), m.tdhMemPageDemote(rcx(m2, 1), f.tdr, sept,
                big + 0x3000, p1, f.regs)); // a page of the 2M page itself is not free
        assertEquals(null, m.view().pamtPair(big >>> 12), "a refused DEMOTE adds no pair");
        ok(m.tdhMemPageDemote(rcx(m2, 1), f.tdr, sept, p0, p1, f.regs));
        long[] pair = m.view().pamtPair(big >>> 12);
        assertEquals(List.of(p0 >>> 12, p1 >>> 12), List.of(pair[0], pair[1]));
        assertEquals(Pamt.SIZE_4K, Pamt.size(m.view().pamtEntry((big >>> 12) + 7)));
        assertEquals(List.of(), check());
        // the 4K pieces are then removed as any 4K page, and the range's pair with the last
        for (long i = 0; i < 512; i++) {
            ok(m.tdhMemRangeBlock(rcx(m2 + (i << 12), 0), f.tdr, f.regs));
            ok(m.tdhMemTrack(f.tdr));
            ok(m.tdhMemPageRemove(rcx(m2 + (i << 12), 0), f.tdr, f.regs));
            ok(m.tdhPhymemPageWbinvd(big + (i << 12) | (long) Fixture.HKID << TdxAbi.KEYID_SHIFT));
        }
        ok(m.tdhPhymemPamtRemove(big | 1, f.regs));
        assertEquals(List.of(p0, p1), List.of(f.regs.rdx, f.regs.r8));
    }
}
