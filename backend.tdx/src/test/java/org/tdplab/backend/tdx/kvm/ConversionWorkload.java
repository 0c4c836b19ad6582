package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;

/**
 * One vCPU's share of the concurrent TD tests: in its own 4×range block, round after round, accept and write
 * private memory, convert half of it to shared and back, and check every read against what was last written.
 */
final class ConversionWorkload {
    private ConversionWorkload() {
    }

    static void run(Vm vm, int vcpu, int rounds, long range) {
        long base = vcpu * 4 * range;
        for (int round = 0; round < rounds; round++) {
            long token = (vcpu + 1) * 1000L + round;
            ok(vm.accept(vcpu, base, range, PageSize.SIZE_4K));
            ok(vm.access(vcpu, Access.WRITE, base, range, Encoding.PRIVATE, token));
            read(vm, vcpu, base, range, token);
            ok(vm.convert(vcpu, false, base, range / 2));
            read(vm, vcpu, base, range, 0);
            ok(vm.access(vcpu, Access.WRITE, base, range / 2, Encoding.SHARED, token + 1));
            read(vm, vcpu, base + range / 2, range, token);
            ok(vm.convert(vcpu, true, base, range / 2));
            read(vm, vcpu, base, range, 0);
        }
    }

    private static void ok(AccessResult r) {
        assertTrue(r.completed(), () -> "ended with " + r);
    }

    private static void read(Vm vm, int vcpu, long gpa, long range, long expected) {
        AccessResult r = vm.access(vcpu, Access.READ, gpa, range / 2, Encoding.CURRENT, 0);
        ok(r);
        assertTrue(r.valuesAgree());
        assertEquals(expected, r.value(), () -> String.format("vCPU %d read of 0x%x", vcpu, gpa));
    }
}
