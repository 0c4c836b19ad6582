package org.tdplab.backend.snp.rmp;

/**
 * Return codes (EAX) of the RMP instructions. Only some values are verified in the sources the hardware spec read
 * (see {@code tdx-snp-hardware.md} Part B); the others are the usual values and are kept configurable here.
 *
 * @param failInput bad operands ({@code FAIL_INPUT}); 1 is verified for PVALIDATE/RMPADJUST (SVSM), unverified for
 *     RMPUPDATE/PSMASH
 * @param failPermission the target is immutable, or an RMPADJUST grant exceeds the caller ({@code FAIL_PERMISSION});
 *     2 is verified for RMPADJUST (SVSM), unverified for RMPUPDATE
 * @param failInuse the page or entry is in use ({@code FAIL_INUSE}); 3 is verified for PSMASH (Linux
 *     {@code PSMASH_FAIL_INUSE}), unverified for RMPUPDATE
 * @param failOverlap a 4K/2M overlap or a concurrent update of the 2M region ({@code RMPUPDATE_FAIL_OVERLAP}); 4 is
 *     verified (Linux; an early patch used 7)
 * @param failSizeMismatch a 2M request on 4K entries ({@code FAIL_SIZEMISMATCH}); 6 is verified (Linux, SVSM)
 */
public record RmpCodes(int failInput, int failPermission, int failInuse, int failOverlap, int failSizeMismatch) {
    public static final int SUCCESS = 0;
    /** The codes of the sources read, the unverified ones at their usual values. */
    public static final RmpCodes DEFAULT = new RmpCodes(1, 2, 3, 4, 6);

    /** The name of a return code, for traces and messages. */
    public String name(int code) {
        if (code == SUCCESS)
            return "SUCCESS";
        if (code == failInput)
            return "FAIL_INPUT";
        if (code == failPermission)
            return "FAIL_PERMISSION";
        if (code == failInuse)
            return "FAIL_INUSE";
        if (code == failOverlap)
            return "FAIL_OVERLAP";
        if (code == failSizeMismatch)
            return "FAIL_SIZEMISMATCH";
        return "FAIL_" + code;
    }
}
