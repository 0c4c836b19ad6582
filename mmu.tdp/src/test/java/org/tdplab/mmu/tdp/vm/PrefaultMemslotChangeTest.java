package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;

/**
 * {@code KVM_PRE_FAULT_MEMORY} into a memslot that is being deleted or moved ({@code KVM_MEMSLOT_INVALID}):
 * {@code -EAGAIN} to userspace since 6.18 (commit 3ccbf6f47098), where a vCPU's fault retries — prefaulting does not
 * promise KVM_RUN's forward progress, and a prefault that retried would spin for as long as the VMM's update.
 */
class PrefaultMemslotChangeTest {
    /** Run with a hang guard: a prefault that retried instead would never return while the move waits for it. */
    @Test
    void aPrefaultIntoAMemslotBeingMovedFailsWithEagainAndMapsNothing() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), this::prefaultDuringMove);
    }

    private void prefaultDuringMove() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 1, M2, M2, PageSize.SIZE_4K);
        MmuException[] seen = new MmuException[1];
        // the update step of a move: the old slot is invalid and its SPTEs are being zapped; no MMU lock is held
        vm.mem.memslots.move(1, 4 * M2, old -> seen[0] = assertThrows(MmuException.class,
                () -> vm.prefault(0, M2, 0x1000)));
        assertEquals(Errno.EAGAIN, seen[0].errno());
        assertTrue(seen[0].getMessage().contains("0x200000") && seen[0].getMessage().contains("try again"),
                seen[0].getMessage());
        assertFalse(vm.mmu.rcu.inReadSection());
        assertFalse(vm.mmu.lock.isReadLockedByMe());
        assertEquals(0, vm.stats().get("pages_4k"), "nothing was mapped");
        assertEquals(0, vm.prefault(0, 4 * M2, 0x1000), "the moved slot prefaults again");
        assertTrue(vm.check().ok(), () -> String.join("\n", vm.check().violations()));
    }
}
