package org.tdplab.mmu.scenario.soak;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;

/**
 * A VM type ({@code buggy}) whose checker is broken on purpose: it reports a violation whenever GFN 0x5 and a GFN of
 * slot 1 ([4M, 6M)) are both mapped at 4K, so a failing sequence needs at least two operations and shrinks to them.
 */
final class BuggyBackend implements Backend {
    @Override
    public String vmType() {
        return "buggy";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
        return VmCapabilities.ordinary("buggy", gpaw);
    }

    @Override
    public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
        return new VmBackend() {
            @Override
            public List<String> check(MmuView view) {
                AtomicBoolean low = new AtomicBoolean(), slot1 = new AtomicBoolean();
                view.forEachLeaf(RootKind.DIRECT, (gfn, level, e) -> {
                    if (level == 1 && gfn == 0x5)
                        low.set(true);
                    if (level == 1 && gfn >= 0x400 && gfn < 0x600)
                        slot1.set(true);
                });
                return low.get() && slot1.get() ? List.of("buggy: GFN 0x5 and slot 1 both mapped at 4K") : List.of();
            }
        };
    }
}
