package org.tdplab.mmu.scenario.workload;

import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;

/**
 * {@code memslot_modification_stress_test}: the vCPUs write their partitions pass after pass until the host has
 * added and deleted a dummy memslot ({@code dummy_slot=ID}, default 32000, one page at {@code dummy_gpa=A}, default
 * the 2M boundary past the range) {@code slot_ops=N} times (default 10, the selftest's {@code -i}); each vCPU makes at
 * least {@code iterations=N} passes (default 1). Every vCPU access must complete.
 */
final class MemslotStress implements Workloads.Workload {
    @Override
    public Set<String> options() {
        return Set.of("iterations", "dummy_slot", "dummy_gpa", "slot_ops");
    }

    @Override
    public void run(Context c) {
        int iterations = c.options.count("iterations", 1, 1000);
        int ops = c.options.count("slot_ops", 10, 100_000);
        int dummy = (int) c.options.number("dummy_slot", 32000);
        long mb2 = PageSize.SIZE_2M.bytes();
        long dummyGpa = c.options.number("dummy_gpa", (c.gpa + c.size + mb2 - 1) / mb2 * mb2);
        c.acceptAll("accept");
        long[] hostNanos = new long[1];
        int[] done = new int[1];
        AtomicBoolean hostDone = new AtomicBoolean();
        Vcpus.Phase p = Vcpus.run("stress", c.vcpus, v -> {
            long n = 0;
            for (int i = 0; (i < iterations || !hostDone.get()) && !Vcpus.stopping(); i++)
                n += c.touch(v, Access.WRITE, i, Vm.DEFAULT_TOKEN);
            return n;
        }, () -> {
            long t0 = System.nanoTime();
            try {
                for (; done[0] < ops && !Vcpus.stopping(); done[0]++) {
                    c.vm.addMemslot(dummy, dummyGpa, Context.PAGE, EnumSet.noneOf(SlotFlag.class),
                            PageSize.SIZE_4K);
                    c.vm.deleteMemslot(dummy);
                }
            } catch (MmuException e) { // say which of the run's options it was about
                throw new MmuException(e.errno(), "run memslot_stress: the host's dummy memslot (dummy_slot=%d "
                        + "dummy_gpa=0x%x, one page): %s", dummy, dummyGpa, e.reason());
            } finally { // the selftest's run_vcpus = false: the vCPUs finish the pass they are in
                hostDone.set(true);
            }
            hostNanos[0] = System.nanoTime() - t0;
        });
        c.report.rates(p, "guest access");
        c.report.line("Memslot add+delete: %d times in %s (avg %s)", done[0], Report.seconds(hostNanos[0]),
                Report.seconds(hostNanos[0] / Math.max(1, done[0])));
    }
}
