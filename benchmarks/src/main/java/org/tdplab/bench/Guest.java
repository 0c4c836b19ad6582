package org.tdplab.bench;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.TypeOptions;
import org.tdplab.mmu.scenario.workload.Workloads;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * A VM of one type with one memslot of {@code bytes} at GPA 0, ready for its first touches, driven through the
 * public API only ({@link Standalone#vmManager} and the backends, as any client would). Private memory for VM types
 * whose guests accept it (TDX, SNP): the range is private and the guest is launched, so its first touch is the
 * accept that faults (accept → AUG, PVALIDATE → fault).
 */
final class Guest implements AutoCloseable {
    static final long PAGE = 4096;
    private static final VmManager MANAGER = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(),
            new TdxBackend(), new SnpBackend());
    private static int serial;
    /** {@code --option}s: each VM gets those of them that are options of its type. */
    private static volatile Map<String, String> vmOptions = Map.of();

    final Vm vm;
    final String type;
    final long bytes;
    final long pages;
    final boolean privateMem;

    private Guest(String type, long bytes, int vcpus, PageSize backing) {
        this.type = type;
        this.bytes = bytes;
        this.pages = bytes / PAGE;
        this.vm = MANAGER.create("bench" + next(), type, vcpus, 48, optionsFor(type));
        this.privateMem = type.equals("tdx") || type.equals("snp");
        Set<SlotFlag> flags = privateMem ? EnumSet.of(SlotFlag.GMEM) : EnumSet.noneOf(SlotFlag.class);
        vm.addMemslot(0, 0, bytes, flags, backing);
        if (privateMem) {
            vm.setMemoryAttributes(0, bytes, true);
            String verb = type.equals("tdx") ? "finalize" : "launch_finish";
            vm.invoke(verb, VerbArgs.none(verb));
        }
    }

    /**
     * Sets the VM options of {@code --option} for the {@code types} benchmarked ({@link TypeOptions#refused}).
     *
     * @throws IllegalArgumentException naming the option or the refusal
     */
    static void useOptions(Map<String, String> options, java.util.List<String> types) {
        vmOptions = Map.of();
        checkOptions(options, types, "--option");
        vmOptions = Map.copyOf(options);
    }

    /**
     * That some of {@code types} have each option and take its value ({@link TypeOptions#refused}).
     *
     * @throws IllegalArgumentException naming {@code flag}, the option or the refusal
     */
    static void checkOptions(Map<String, String> options, java.util.List<String> types, String flag) {
        String refused = options.isEmpty() ? null : TypeOptions.refused(MANAGER, types, options);
        if (refused != null)
            throw new IllegalArgumentException(refused.replaceFirst("^--option", flag));
    }

    private static Map<String, String> optionsFor(String type) {
        return TypeOptions.forType(MANAGER, type, vmOptions);
    }

    private static synchronized int next() {
        return ++serial;
    }

    static Guest create(String type, long bytes, int vcpus) {
        return new Guest(type, bytes, vcpus, PageSize.SIZE_4K);
    }

    static Guest create(String type, long bytes, int vcpus, PageSize backing) {
        return new Guest(type, bytes, vcpus, backing);
    }

    /**
     * A TD before {@code tdx.finalize}: its image written through the shared alias (the VMM staging it), then the
     * range made private, ready for {@code tdx.init_mem_region}.
     */
    static Vm tdImage(long bytes) {
        Vm td = MANAGER.create("bench" + next(), "tdx", 1, 48, optionsFor("tdx"));
        td.addMemslot(0, 0, bytes, EnumSet.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        td.access(0, Access.WRITE, 0, bytes, Encoding.SHARED, 0xc0de);
        td.setMemoryAttributes(0, bytes, true);
        return td;
    }

    /** The first touch of page {@code page} by {@code vcpu}: a write, or the accept of private memory. */
    void touch(int vcpu, long page) {
        long gpa = page * PAGE;
        AccessResult r = privateMem ? vm.accept(vcpu, gpa, PAGE, PageSize.SIZE_4K)
                : vm.access(vcpu, Access.WRITE, gpa, PAGE, Encoding.CURRENT, Vm.DEFAULT_TOKEN);
        if (!r.completed())
            throw new IllegalStateException(type + ": the touch of gpa 0x" + Long.toHexString(gpa) + " ended " + r);
    }

    /** Writes (after the accept, for private memory) every page once, in order: the VM then holds a token per page. */
    void writeAll(int vcpu) {
        for (long p = 0; p < pages; p++) {
            if (privateMem)
                touch(vcpu, p);
            AccessResult r = vm.access(vcpu, Access.WRITE, p * PAGE, PAGE, Encoding.CURRENT, Vm.DEFAULT_TOKEN);
            if (!r.completed())
                throw new IllegalStateException(type + ": write ended " + r);
        }
    }

    /** Faults pages {@code [from, from + n)} of the slot by {@code how}, in {@code order}. Returns pages faulted. */
    long fault(String how, Order order, int vcpu, long from, long n) {
        switch (how) {
        case "write" -> {
            for (long i = 0; i < n; i++)
                touch(vcpu, from + order.page(i));
        }
        case "prefault" -> {
            for (long i = 0; i < n; i++)
                vm.prefault(vcpu, (from + order.page(i)) * PAGE, PAGE);
        }
        case "workload" -> Workloads.run(vm, "demand_paging", from * PAGE, n * PAGE, 1,
                Map.of("order", order.random() ? "random" : "sequential"), id -> new Workloads.Slot(0, bytes, false));
        default -> throw new IllegalArgumentException("how=" + how);
        }
        return n;
    }

    /**
     * Readies a guest whose every page is mapped at 4K (2M for {@code split} and {@code recover}) for range
     * operation {@code op} ({@link #rangeOp}): {@code clear_dirty} with dirty logging on and every page dirtied
     * again (fast page faults make it writable), {@code recover} with logging on and the 2M leaves split.
     */
    void prepareRange(String op) {
        writeAll(0);
        switch (op) {
        case "clear_dirty" -> {
            vm.setDirtyLogging(0, true, new DirtyLogOptions(false, false));
            writeAll(0); // every page dirty and writable again (fast page faults), to be re-protected
        }
        case "recover" -> vm.setDirtyLogging(0, true, new DirtyLogOptions(true, false));
        default -> {
        }
        }
    }

    /** The backing of a guest range operation {@code op} runs on: 2M for the eager split and its recovery. */
    static PageSize rangeBacking(String op) {
        return op.equals("split") || op.equals("recover") ? PageSize.SIZE_2M : PageSize.SIZE_4K;
    }

    /**
     * Range operation {@code op} over the whole guest: {@code zap} ({@code kvm_zap_gfn_range}), {@code wp} (dirty
     * logging enabled: write-protect), {@code clear_dirty} ({@code KVM_CLEAR_DIRTY_LOG}), {@code age}
     * (clear_young), {@code split} (eager split when logging starts), {@code recover} (logging disabled). Returns
     * what {@code age} returns, else 0.
     */
    long rangeOp(String op) {
        switch (op) {
        case "zap" -> vm.zapGfnRange(0, bytes);
        case "wp" -> vm.setDirtyLogging(0, true, new DirtyLogOptions(false, false));
        case "clear_dirty" -> vm.clearDirtyLog(0, 0, bytes);
        case "age" -> {
            return vm.age(0, bytes);
        }
        case "split" -> vm.setDirtyLogging(0, true, new DirtyLogOptions(true, false));
        case "recover" -> vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT);
        default -> throw new IllegalArgumentException("op=" + op);
        }
        return 0;
    }

    /** Reads pages {@code [from, from + n)}, mapped before, by {@code vcpu} in {@code order}. Returns pages read. */
    long read(Order order, int vcpu, long from, long n) {
        for (long i = 0; i < n; i++) {
            AccessResult r = vm.access(vcpu, Access.READ, (from + order.page(i)) * PAGE, PAGE, Encoding.CURRENT, 0);
            if (!r.completed())
                throw new IllegalStateException(type + ": read ended " + r);
        }
        return n;
    }

    @Override
    public void close() {
        vm.destroy();
    }
}
