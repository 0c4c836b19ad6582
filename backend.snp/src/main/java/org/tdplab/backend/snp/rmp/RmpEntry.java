package org.tdplab.backend.snp.rmp;

/**
 * The layout of one 16-byte RMP entry, as two qwords. The low qword follows the Fam19h Model 01h PPR layout Linux
 * reads ({@code struct rmpentry_raw}); it is not architectural (architecturally only RMPREAD exposes the fields).
 * The high qword holds the VMPL permission masks; its raw layout is not in the sources read (unverified), so the
 * model packs one byte per VMPL.
 */
public final class RmpEntry {
    /** 0 = hypervisor-owned, 1 = owned by a guest or the AMD-SP. */
    public static final long ASSIGNED = 1L;
    /** Page_Size: 0 = 4K, 1 = 2M. */
    public static final long PAGE_SIZE = 1L << 1;
    /** Only the AMD-SP may change the entry. */
    public static final long IMMUTABLE = 1L << 2;
    /** Guest_Physical_Address, bits 50:12. */
    public static final long GPA_MASK = ((1L << 51) - 1) & ~0xfffL;
    public static final int ASID_SHIFT = 51;
    /** ASID, bits 60:51. */
    public static final long ASID_MASK = 0x3ffL << ASID_SHIFT;
    public static final long VMSA = 1L << 61;
    public static final long VALIDATED = 1L << 62;

    /** The largest ASID the 10-bit field holds. */
    public static final int MAX_ASID = 0x3ff;

    /** RMP page-size encodings (RCX of PVALIDATE/RMPADJUST, the Page_Size bit). */
    public static final int SIZE_4K = 0, SIZE_2M = 1;

    /**
     * VMPL permission bits (RMPADJUST RDX bits 8..12, shifted down by 8): read, write, user execute, supervisor
     * execute, supervisor shadow stack (the SSS position is unverified).
     */
    public static final int PERM_R = 1, PERM_W = 2, PERM_XU = 4, PERM_XS = 8, PERM_SSS = 16;
    public static final int PERM_ALL = PERM_R | PERM_W | PERM_XU | PERM_XS | PERM_SSS;
    public static final int VMPLS = 4;

    private RmpEntry() {
    }

    public static boolean assigned(long lo) {
        return (lo & ASSIGNED) != 0;
    }

    public static boolean is2M(long lo) {
        return (lo & PAGE_SIZE) != 0;
    }

    public static boolean immutable(long lo) {
        return (lo & IMMUTABLE) != 0;
    }

    public static boolean validated(long lo) {
        return (lo & VALIDATED) != 0;
    }

    public static boolean vmsa(long lo) {
        return (lo & VMSA) != 0;
    }

    public static int asid(long lo) {
        return (int) ((lo & ASID_MASK) >>> ASID_SHIFT);
    }

    public static long gpa(long lo) {
        return lo & GPA_MASK;
    }

    /** The low qword RMPUPDATE writes: Validated and VMSA start clear. */
    public static long lo(long gpa, boolean assigned, int pageSize, boolean immutable, int asid) {
        return (assigned ? ASSIGNED : 0) | (pageSize == SIZE_2M ? PAGE_SIZE : 0) | (immutable ? IMMUTABLE : 0)
                | (gpa & GPA_MASK) | ((long) asid << ASID_SHIFT);
    }

    /** The permissions of {@code vmpl} in a high qword. */
    public static int perms(long hi, int vmpl) {
        return (int) (hi >>> (8 * vmpl)) & 0xff;
    }

    public static long withPerms(long hi, int vmpl, int perms) {
        int shift = 8 * vmpl;
        return (hi & ~(0xffL << shift)) | ((long) (perms & 0xff) << shift);
    }

    /** One line for messages: {@code assigned asid=3 gpa=0x200000 2M validated}. */
    public static String describe(long lo, long hi) {
        if (lo == 0 && hi == 0)
            return "hypervisor-owned (zero)";
        StringBuilder b = new StringBuilder(assigned(lo) ? "assigned" : "unassigned");
        b.append(" asid=").append(asid(lo)).append(" gpa=0x").append(Long.toHexString(gpa(lo)));
        b.append(is2M(lo) ? " 2M" : " 4K");
        if (immutable(lo))
            b.append(" immutable");
        if (validated(lo))
            b.append(" validated");
        if (vmsa(lo))
            b.append(" vmsa");
        if (hi != 0)
            b.append(" perms=0x").append(Long.toHexString(hi));
        return b.toString();
    }
}
