package org.tdplab.mmu.tdp.check;

import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.MemAttributes;
import org.tdplab.mmu.tdp.slot.Memslots;
import org.tdplab.mmu.tdp.vcpu.GuestMode;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** What the checker reads of one VM. */
public record CheckTarget(TdpMmu mmu, Memslots memslots, MemAttributes attributes, Vcpu[] vcpus,
        GuestMode guestMode, boolean bugged) {
}
