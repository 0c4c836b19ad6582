package org.tdplab.mmu.scenario.workload;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntFunction;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.scenario.run.Progress;

/**
 * The workloads of the {@code run} statement, after the KVM selftests of the same names. Each runs one thread per
 * vCPU over {@code [gpa, gpa+size)}, and reports what its selftest prints plus fault, retry, flush and firmware
 * call counts (deltas of {@code Vm.stats()} over the run).
 *
 * <p>Options every workload takes: {@code overlap=on|off} (every vCPU covers the whole range, as
 * {@code demand_paging_test -o}), {@code order=sequential|random}, {@code seed=N}, {@code accept=on|off} (default on
 * for VM types whose guests accept private memory), {@code accept_level=4K|2M}, and {@code backing=4K|2M|1G} with
 * {@code slot=ID}: the workload first adds memslot {@code ID} over the range with that backing ({@code gmem} on VMs
 * with private memory, made private when the guest accepts), as {@code -s} chooses the backing of the selftests'
 * test region.
 */
public final class Workloads {
    /** The options every workload knows. */
    static final Set<String> COMMON = Set.of("overlap", "order", "seed", "accept", "accept_level", "backing", "slot");

    private Workloads() {
    }

    public static Set<String> names() {
        return new TreeSet<>(Set.of("demand_paging", "dirty_log", "conversions", "memslot_stress",
                "access_tracking"));
    }

    /**
     * Runs workload {@code name}; {@code slots} gives a memslot the VMM added, as the VMM knows it (ENOENT when
     * there is none). Refusals and accesses that end early fail with an {@link MmuException}.
     */
    public static Report run(Vm vm, String name, long gpa, long size, int vcpus, Map<String, String> options,
            IntFunction<Slot> slots) {
        return run(vm, name, gpa, size, vcpus, options, slots, () -> {
        });
    }

    /**
     * {@link #run}, telling {@code slotAdded} as soon as the memslot of {@code backing=} is in the VM: it stays there
     * when the workload fails later, and its VMM must know it.
     */
    public static Report run(Vm vm, String name, long gpa, long size, int vcpus, Map<String, String> options,
            IntFunction<Slot> slots, Runnable slotAdded) {
        Workload w = switch (name) {
        case "demand_paging" -> new DemandPaging();
        case "dirty_log" -> new DirtyLogPerf();
        case "conversions" -> new Conversions();
        case "memslot_stress" -> new MemslotStress();
        case "access_tracking" -> new AccessTracking();
        default -> throw new MmuException(Errno.EINVAL, "run: unknown workload %s (there are %s)", name,
                String.join(", ", names()));
        };
        Set<String> known = new TreeSet<>(COMMON);
        known.addAll(w.options());
        Options o = new Options(name, options, known);
        if (o.has("backing")) { // the memslot the workload adds is the VMM's from then on: dirty_log finds it
            int added = (int) o.number("slot", 0);
            IntFunction<Slot> vmmSlots = slots;
            slots = id -> id == added ? new Slot(gpa, size, false) : vmmSlots.apply(id);
        }
        Context c = new Context(vm, name, gpa, size, vcpus, o, slots);
        addSlot(c, slotAdded);
        Map<String, Long> before = vm.stats();
        c.report.line("%s: %d vCPUs, %d bytes per vCPU (%d page%s), %s order%s", name, vcpus,
                c.pages() * Context.PAGE, c.pages(), c.pages() == 1 ? "" : "s", c.random ? "random" : "sequential",
                c.overlap ? ", overlapping" : "");
        long untouched = c.untouchedPages();
        if (untouched > 0) // the selftests' partitions are equal too (memstress): say what the run leaves out
            c.report.line("%s: the last %d page%s of the range %s in no vCPU's partition (size is not a multiple of "
                    + "%d pages)", name, untouched, untouched == 1 ? "" : "s", untouched == 1 ? "is" : "are", vcpus);
        long t0 = System.nanoTime();
        try {
            w.run(c);
        } finally {
            Progress.phase(null);
        }
        long total = System.nanoTime() - t0;
        c.report.time("Total run", total);
        Map<String, Long> after = vm.stats();
        Counters counters = Counters.delta(before, after, vm.firmwareCalls());
        Projection projection = Projection.of(before, after, vcpus);
        c.report.line("%s", counters.line());
        c.report.line("%s", projection.line());
        c.report.line("%s", counters.perGiB(c.size));
        c.report.line("%s", projection.perGiB(c.size));
        return c.report;
    }

    /**
     * {@code backing=… slot=ID}: adds the memslot over the range, with guest_memfd on VMs with private memory; when
     * the guest accepts (a TD, an SNP guest), the range is made private too, as their selftests' test regions are.
     */
    private static void addSlot(Context c, Runnable added) {
        if (!c.options.has("backing"))
            return;
        Set<SlotFlag> flags = java.util.EnumSet.noneOf(SlotFlag.class);
        boolean privateMem = c.vm.capabilities().privateMem();
        if (privateMem)
            flags.add(SlotFlag.GMEM);
        int id = (int) c.options.number("slot", 0);
        Progress.phase("add memslot " + id);
        c.vm.addMemslot(id, c.gpa, c.size, flags, c.options.size("backing", null));
        added.run();
        if (privateMem && c.accept)
            c.vm.setMemoryAttributes(c.gpa, c.size, true);
    }

    /** A memslot as the VMM that added it knows it: where it lies, and whether it logs dirty pages now. */
    public record Slot(long gpa, long size, boolean dirtyLogging) {
    }

    /** One workload: the options it adds to {@link #COMMON}, and its phases. */
    interface Workload {
        Set<String> options();

        void run(Context c);
    }
}
