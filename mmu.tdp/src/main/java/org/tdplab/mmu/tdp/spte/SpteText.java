package org.tdplab.mmu.tdp.spte;

import static org.tdplab.mmu.tdp.spte.Spte.ACCESSED;
import static org.tdplab.mmu.tdp.spte.Spte.DEFAULT_MMIO_VALUE;
import static org.tdplab.mmu.tdp.spte.Spte.DIRTY;
import static org.tdplab.mmu.tdp.spte.Spte.HOST_WRITABLE;
import static org.tdplab.mmu.tdp.spte.Spte.MMIO_MASK;
import static org.tdplab.mmu.tdp.spte.Spte.MMU_WRITABLE;
import static org.tdplab.mmu.tdp.spte.Spte.R;
import static org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE;
import static org.tdplab.mmu.tdp.spte.Spte.W;
import static org.tdplab.mmu.tdp.spte.Spte.X;
import static org.tdplab.mmu.tdp.spte.Spte.adEnabled;
import static org.tdplab.mmu.tdp.spte.Spte.isAccessTracked;
import static org.tdplab.mmu.tdp.spte.Spte.isFrozen;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isMmio;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;
import static org.tdplab.mmu.tdp.spte.Spte.levelName;
import static org.tdplab.mmu.tdp.spte.Spte.mmioGeneration;
import static org.tdplab.mmu.tdp.spte.Spte.mmioGfn;
import static org.tdplab.mmu.tdp.spte.Spte.pfn;

/** SPTEs in words, for logs, dumps and tests. */
public final class SpteText {
    private SpteText() {
    }

    /** Short text for logs and tests, assuming either MMIO value (W+X or 0) for non-present SPTEs. */
    public static String describe(long spte, int level) {
        long kind = spte & MMIO_MASK;
        return describe(spte, level, kind == 0 ? 0 : DEFAULT_MMIO_VALUE);
    }

    public static String describe(long spte, int level, long mmioValue) {
        if (isFrozen(spte)) {
            return "FROZEN";
        }
        if (spte == SHADOW_NONPRESENT_VALUE) {
            return "nonpresent";
        }
        if (!isShadowPresent(spte)) {
            if (isMmio(spte, mmioValue)) {
                return "mmio gfn=0x" + Long.toHexString(mmioGfn(spte)) + " gen=" + mmioGeneration(spte);
            }
            return "nonpresent 0x" + hex(spte);
        }
        if (!isLast(spte, level)) {
            return "table pfn=0x" + Long.toHexString(pfn(spte));
        }
        StringBuilder sb = new StringBuilder(64);
        sb.append("leaf ").append(levelName(level)).append(" pfn=0x").append(Long.toHexString(pfn(spte)));
        flag(sb, spte, R, " R");
        flag(sb, spte, W, " W");
        flag(sb, spte, X, " X");
        if (adEnabled(spte)) {
            flag(sb, spte, ACCESSED, " A");
            flag(sb, spte, DIRTY, " D");
        } else {
            sb.append(isAccessTracked(spte) ? " ad-off tracked" : " ad-off");
        }
        flag(sb, spte, HOST_WRITABLE, " hw");
        flag(sb, spte, MMU_WRITABLE, " mw");
        return sb.toString();
    }

    private static void flag(StringBuilder sb, long spte, long bit, String text) {
        if ((spte & bit) != 0) {
            sb.append(text);
        }
    }

    /** 16-digit lower-case hex. */
    public static String hex(long spte) {
        String h = Long.toHexString(spte);
        return "0000000000000000".substring(h.length()) + h;
    }
}
