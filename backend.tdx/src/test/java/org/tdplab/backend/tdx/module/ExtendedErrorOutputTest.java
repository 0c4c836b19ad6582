package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.tdplab.backend.tdx.module.Fixture.rcx;

import org.junit.jupiter.api.Test;

/**
 * The extended error output of a failed S-EPT leaf: RCX the architectural view of the entry it stopped at (HPA, RWX
 * for a mapped entry, PS for a leaf above 4K, bit 63 suppress-#VE for a free or pending one), RDX its level and
 * public state — what KVM prints in its {@code TDX_BUG_ON} messages. Also the PAMT's page-type names.
 */
class ExtendedErrorOutputTest {
    static final long M2 = 2L << 20, VE = 1L << 63, RWX = 7, PS = 1L << 7;

    final Fixture f = new Fixture();

    static long rdx(int level, int state) {
        return level | ((long) SeptState.publicValue(state) << 8);
    }

    @Test
    void aMappedLeafIsShownWithItsHpaAndRwx() {
        long gpa = 0x200000;
        long hpa = f.add(gpa, 5);
        f.finalizeTd();
        long st = f.m.tdhMemPageAug(rcx(gpa, 0), f.tdr, f.page(), f.regs);
        assertNotEquals(TdxStatus.TDX_SUCCESS, st);
        assertEquals(hpa | RWX, f.regs.rcx);
        assertEquals(rdx(0, SeptState.MAPPED), f.regs.rdx);
    }

    @Test
    void aPendingLeafIsShownWithSuppressVe() {
        f.finalizeTd();
        long gpa = 0x201000;
        long hpa = f.aug(gpa);
        assertNotEquals(TdxStatus.TDX_SUCCESS, f.m.tdhMemPageAug(rcx(gpa, 0), f.tdr, f.page(), f.regs));
        assertEquals(hpa | VE, f.regs.rcx);
        assertEquals(rdx(0, SeptState.PENDING), f.regs.rdx);
    }

    @Test
    void aFreeEntryIsAllZeroButSuppressVe() {
        f.finalizeTd();
        f.aug(0x201000);
        assertNotEquals(TdxStatus.TDX_SUCCESS, f.m.tdhMemRangeBlock(rcx(0x202000, 0), f.tdr, f.regs));
        assertEquals(VE, f.regs.rcx);
        assertEquals(rdx(0, SeptState.FREE), f.regs.rdx);
    }

    @Test
    void aTableEntryIsShownWithoutPs() {
        f.finalizeTd();
        f.aug(0x201000);
        long pde = f.m.view().lookup(0x201, 1);
        assertNotEquals(TdxStatus.TDX_SUCCESS, f.m.tdhMemSeptAdd(rcx(0x200000, 1), f.tdr, f.page(), f.regs));
        assertEquals(SeptTree.hpa(pde) | RWX, f.regs.rcx);
        assertEquals(rdx(1, SeptState.NL_MAPPED), f.regs.rdx);
    }

    @Test
    void a2mLeafIsShownWithPs() {
        f.finalizeTd();
        long gpa = 4 * M2;
        f.link(gpa, 1);
        long hpa = f.page2m();
        Fixture.ok(f.m.tdhMemPageAug(rcx(gpa, 1), f.tdr, hpa, f.regs));
        assertNotEquals(TdxStatus.TDX_SUCCESS, f.m.tdhMemPageAug(rcx(gpa, 1), f.tdr, f.page2m(), f.regs));
        assertEquals(hpa | PS | VE, f.regs.rcx, "a pending 2M leaf");
        assertEquals(rdx(1, SeptState.PENDING), f.regs.rdx);
    }

    @Test
    void pamtPageTypesAreNamed() {
        String[] names = { "NDA", "RSVD", "REG", "EPT", "TDR", "TDCX", "TDVPR" };
        for (int t = 0; t < names.length; t++)
            assertEquals(names[t], Pamt.typeName(t));
        assertEquals("PT7", Pamt.typeName(7));
        assertEquals("PT-1", Pamt.typeName(-1));
    }
}
