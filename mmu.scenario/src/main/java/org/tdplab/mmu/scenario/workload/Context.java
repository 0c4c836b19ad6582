package org.tdplab.mmu.scenario.workload;

import java.util.function.IntFunction;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm;

/**
 * One run of a workload: the VM, the range and its split into per-vCPU partitions (size/vcpus bytes each, or the
 * whole range for every vCPU with {@code overlap=on}), the page order, and the guest steps every workload shares.
 */
final class Context {
    static final long PAGE = 4096;
    /** Pages per vCPU at most (1 TiB): keeps {@link Order}'s arithmetic in a long. */
    static final long MAX_PAGES = 1L << 28;
    /** The bytes one accept call takes at most (a multiple of every accept level). */
    static final long ACCEPT_CHUNK = 4L << 20;

    final Vm vm;
    final String workload;
    final long gpa, size;
    final int vcpus;
    final Options options;
    final IntFunction<Workloads.Slot> slots;
    final Report report = new Report();
    final boolean overlap, random, accept;
    final long seed;
    final PageSize acceptLevel;
    private final long partition;

    Context(Vm vm, String workload, long gpa, long size, int vcpus, Options options,
            IntFunction<Workloads.Slot> slots) {
        this.vm = vm;
        this.workload = workload;
        this.gpa = gpa;
        this.size = size;
        this.vcpus = vcpus;
        this.options = options;
        this.slots = slots;
        if (vcpus < 1 || vcpus > vm.vcpus())
            throw new MmuException(Errno.EINVAL, "run %s: vcpus=%d: VM '%s' has %d vCPU%s", workload, vcpus,
                    vm.name(), vm.vcpus(), vm.vcpus() == 1 ? "" : "s");
        if (gpa % PAGE != 0 || size % PAGE != 0 || size == 0)
            throw new MmuException(Errno.EINVAL, "run %s: gpa=0x%x size=0x%x: both must be 4K-aligned and size "
                    + "non-zero", workload, gpa, size);
        long end = gpa + size;
        if (Long.compareUnsigned(end, gpa) <= 0 || Long.compareUnsigned(end, 1L << vm.capabilities().gpaw()) > 0)
            throw new MmuException(Errno.EINVAL, "run %s: gpa=0x%x size=0x%x wraps or lies beyond gpaw=%d", workload,
                    gpa, size, vm.capabilities().gpaw());
        this.overlap = options.on("overlap", false);
        this.random = options.word("order", "sequential", "sequential", "random").equals("random");
        this.seed = options.number("seed", 1);
        this.accept = options.on("accept", vm.capabilities().acceptance());
        this.acceptLevel = options.size("accept_level", PageSize.SIZE_4K);
        this.partition = overlap ? size : size / vcpus / PAGE * PAGE;
        if (partition == 0)
            throw new MmuException(Errno.EINVAL, "run %s: size=%d is less than a page per vCPU", workload, size);
        if (partition / PAGE > MAX_PAGES)
            throw new MmuException(Errno.EINVAL, "run %s: %d pages per vCPU is more than the %d a run allows",
                    workload, partition / PAGE, MAX_PAGES);
    }

    /** The first GPA of {@code vcpu}'s partition. */
    long base(int vcpu) {
        return overlap ? gpa : gpa + vcpu * partition;
    }

    long pages() {
        return partition / PAGE;
    }

    /** The pages at the end of the range that no partition holds: {@code size} is not a multiple of the vCPUs'. */
    long untouchedPages() {
        return overlap ? 0 : (size - vcpus * partition) / PAGE;
    }

    Order order(int vcpu, int pass) {
        return random ? Order.random(pages(), seed * 1_000_003L + vcpu * 7919L + pass) : Order.sequential(pages());
    }

    /** Every vCPU accepts (validates) its own slice of the range, disjoint even with overlap; a no-op when off. */
    void acceptAll(String phase) {
        if (!accept)
            return;
        long slice = size / vcpus / acceptLevel.bytes() * acceptLevel.bytes();
        if (slice == 0)
            throw new MmuException(Errno.EINVAL, "run %s: size=%d is less than an accept_level=%s per vCPU",
                    workload, size, acceptLevel.label());
        String advice = String.format(java.util.Locale.ROOT, "accept (a guest accepts private memory only: write "
                + "'attr.set %s gpa=0x%x size=0x%x private' before this run, or accept=off to use the range as shared)",
                vm.name(), gpa, size);
        Vcpus.Phase p = Vcpus.run(phase, vcpus, v -> {
            long from = gpa + v * slice, end = v == vcpus - 1 ? gpa + size : from + slice;
            long a = from;
            for (; a < end && !Vcpus.stopping(); a += ACCEPT_CHUNK) { // in pieces, as the guest's loop goes
                long n = Math.min(ACCEPT_CHUNK, end - a);
                AccessResult r = vm.accept(v, a, n, acceptLevel);
                // the advice is about private memory; an entry that failed says its own why
                complete(v, r.exit() != null && r.exit().reason() == Exit.Reason.FAIL_ENTRY ? "accept" : advice, r);
                org.tdplab.mmu.scenario.run.Progress.PAGES.addAndGet(n / PAGE);
            }
            return (Math.min(a, end) - from) / PAGE;
        });
        report.time("Accepting memory", p.wallNanos());
    }

    /** One pass of {@code vcpu} over its partition, one 4K access per page; returns the pages touched. */
    long touch(int vcpu, Access access, int pass, long value) {
        Order o = order(vcpu, pass);
        long base = base(vcpu);
        for (long i = 0; i < o.size(); i++) {
            if ((i & 1023) == 1023) {
                org.tdplab.mmu.scenario.run.Progress.PAGES.addAndGet(1024);
                if (Vcpus.stopping())
                    return i + 1;
            }
            long a = base + o.page(i) * PAGE;
            AccessResult r = vm.access(vcpu, access, a, PAGE, Encoding.CURRENT, value);
            if (!r.completed()) // the words of a failure are built only for one
                complete(vcpu, access.name().toLowerCase(java.util.Locale.ROOT) + " at 0x" + Long.toHexString(a), r);
        }
        org.tdplab.mmu.scenario.run.Progress.PAGES.addAndGet(o.size() & 1023);
        return o.size();
    }

    /** An access that ended in an exit or exception fails the run with EFAULT, as a selftest's assert would. */
    void complete(int vcpu, String what, AccessResult r) {
        if (r.completed())
            return;
        Exit e = r.exit();
        if (e != null && e.reason() == Exit.Reason.VM_DEAD)
            throw new MmuException(Errno.EIO, "run %s: vCPU %d: %s", workload, vcpu, e.detail()); // "VM is dead: …"
        throw new MmuException(Errno.EFAULT, "run %s: vCPU %d: %s ended in %s", workload, vcpu, what,
                e == null ? "exception " + r.exception() : "exit " + e.name() + (e.reason() == Exit.Reason.FAIL_ENTRY
                        ? " reason=0x" + Long.toHexString(e.hardwareEntryFailureReason())
                        : " gpa=0x" + Long.toHexString(e.gpa())) + (e.detail() == null ? "" : " (" + e.detail() + ")"));
    }
}
