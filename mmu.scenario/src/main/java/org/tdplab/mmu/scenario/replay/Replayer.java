package org.tdplab.mmu.scenario.replay;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.scenario.run.BackendVerbs;
import org.tdplab.mmu.scenario.trace.BadTrace;
import org.tdplab.mmu.scenario.trace.Operation;
import org.tdplab.mmu.scenario.trace.TraceReader;

/**
 * Runs a trace's steps again, one at a time in the trace's order, each on a fresh VM of the type the trace
 * recorded or of a chosen one, and compares the SPTE changes and results of each step with the trace's.
 */
public final class Replayer {
    private static final AtomicInteger RUNS = new AtomicInteger();
    private static final long PRIVATE_ACCESS = 1L << 49;

    /** {@code type}: the VM type to replay on (null: each VM's own); {@code options} replace the VMs' options then. */
    public record Options(String type, Map<String, String> vmOptions, boolean checked, boolean exact) {
    }

    private final VmManager manager;
    private final Options options;
    private final String prefix = "replay-" + RUNS.incrementAndGet() + "/";
    private final Map<String, Target> targets = new LinkedHashMap<>();
    private final ChangeCollector collector = new ChangeCollector();

    /** Replays on a fresh simulated host: a session of the core of its own, as a file of a run has. */
    public Replayer(VmManager manager, Options options) {
        this.manager = manager.session();
        this.options = options;
    }

    /** A traced VM and the VM it is replayed on. */
    static final class Target {
        final String traced;
        final String tracedType;
        final long tracedSharedMask;
        Vm vm;
        long faults, operations, differing;
        final List<String> violations = new ArrayList<>();

        Target(String traced, String tracedType, long tracedSharedMask) {
            this.traced = traced;
            this.tracedType = tracedType;
            this.tracedSharedMask = tracedSharedMask;
        }

        String type() {
            return vm == null ? "?" : vm.type();
        }
    }

    /**
     * Whether a replay can run every step of {@code trace}: each line that lacks a field or has one malformed is
     * in the {@link BadTrace} thrown, with its line number.
     */
    public static void check(TraceReader.Trace trace) throws BadTrace {
        BadTrace bad = new BadTrace();
        ReplayPlan plan = ReplayPlan.of(trace, bad);
        if (plan.steps.isEmpty() && !bad.any())
            bad.add(1, "no VM in the trace, nothing to replay (a trace of './tdplab run --trace' has a KVM_CREATE_VM "
                    + "for each VM)");
        bad.throwIfAny();
    }

    /**
     * Replays every step; the VMs it made are gone afterwards.
     *
     * @throws IllegalArgumentException when a step cannot be run ({@link #check} says which, before anything runs)
     */
    public ReplayResult run(TraceReader.Trace trace) {
        BadTrace bad = new BadTrace();
        ReplayPlan plan = ReplayPlan.of(trace, bad);
        if (bad.any())
            throw new IllegalArgumentException(bad.getMessage());
        requireCreations(plan);
        requireKnownOptions(plan);
        ReplayResult result = new ReplayResult(plan.unattributed, options.exact());
        manager.addObserver(collector);
        long start = System.nanoTime();
        try {
            for (Step s : plan.steps)
                replay(s, result);
        } finally {
            result.nanos = System.nanoTime() - start;
            manager.removeObserver(collector);
            for (Target t : targets.values())
                finish(t);
        }
        result.targets.addAll(targets.values());
        return result;
    }

    /** Replays need the operation stream from its start: a VM's first step must create it. */
    private static void requireCreations(ReplayPlan plan) {
        Map<String, Step> first = new LinkedHashMap<>();
        for (Step s : plan.steps)
            first.putIfAbsent(s.vm, s);
        for (Step s : first.values())
            if (s.kind != Step.Kind.OPERATION || !s.text.startsWith("KVM_CREATE_VM"))
                throw new MmuException(Errno.EINVAL, "VM '%s' has no KVM_CREATE_VM before line %d: a replay needs "
                        + "the operation stream of './tdplab run --trace' from the VM's creation on", s.vm, s.line);
    }

    /**
     * Each {@code --option} is an option of every VM type the replay creates (the {@code --type}, or each traced
     * VM's): a key no type knows would make every creation fail, and the replay compare nothing.
     */
    private void requireKnownOptions(ReplayPlan plan) {
        if (options.vmOptions().isEmpty())
            return;
        Map<String, List<VmOption>> known = manager.options();
        Set<String> types = new TreeSet<>();
        for (Step s : plan.steps)
            if (s.kind == Step.Kind.OPERATION && s.text.startsWith("KVM_CREATE_VM"))
                types.add(options.type() != null ? options.type() : Operation.parse(s.text).word("type"));
        for (String type : types) {
            List<VmOption> declared = known.getOrDefault(type, List.of());
            List<String> keys = declared.stream().map(VmOption::key).toList();
            for (Map.Entry<String, String> o : options.vmOptions().entrySet()) {
                VmOption option = declared.stream().filter(d -> d.key().equals(o.getKey())).findFirst().orElse(null);
                if (option == null)
                    throw new MmuException(Errno.EINVAL, "--option %s=%s: VM type %s has no option '%s' (%s)",
                            o.getKey(), o.getValue(), type, o.getKey(),
                            keys.isEmpty() ? "it has none" : "its options: " + String.join(", ", keys));
                try { // a value the type refuses would fail every creation, and the replay compare nothing
                    option.parse(o.getValue());
                } catch (IllegalArgumentException e) {
                    throw new MmuException(Errno.EINVAL, "--option %s=%s: %s", o.getKey(), o.getValue(),
                            e.getMessage());
                }
            }
        }
    }

    private void replay(Step s, ReplayResult result) {
        if (s.kind == Step.Kind.OPERATION && s.text.startsWith("KVM_CREATE_VM")) {
            create(s, result);
            return;
        }
        Target t = targets.get(s.vm);
        if (t == null || t.vm == null) {
            result.skip(s, "its VM could not be created");
            return;
        }
        collector.begin(t.vm.name());
        String got;
        if (s.kind == Step.Kind.FAULT) {
            t.faults++;
            got = fault(t, s);
        } else {
            t.operations++;
            got = operation(t, s, Operation.parse(s.text), result);
        }
        List<SpteChange> made = collector.end();
        compare(t, s, made, got, result);
        if (options.checked() && !t.vm.bugged() && !s.text.startsWith("kvm_destroy_vm"))
            check(t, "after line " + s.line);
    }

    private void create(Step s, ReplayResult result) {
        Operation op = Operation.parse(s.text);
        int sharedBit = op.has("shared_bit") ? op.integer("shared_bit") : -1;
        Target t = new Target(s.vm, op.word("type"), sharedBit > 0 ? 1L << sharedBit : 0);
        targets.put(s.vm, t);
        String type = options.type() != null ? options.type() : t.tracedType;
        Map<String, String> vmOptions = type.equals(t.tracedType) ? new TreeMap<>(op.options()) : new TreeMap<>();
        vmOptions.putAll(options.vmOptions());
        String error = null;
        collector.begin(prefix + s.vm);
        try {
            t.vm = manager.create(prefix + s.vm, type, op.integer("vcpus"), op.integer("gpaw"), vmOptions);
        } catch (MmuException e) {
            error = e.errno().name();
            if (!error.equals(s.result)) // a creation the trace saw fail the same way (ENOSPC: no HKID left) is a step
                result.failures.add("line " + s.line + ": cannot create VM '" + s.vm + "' as " + type + ": "
                        + e.getMessage());
        }
        compare(t, s, collector.end(), error, result);
    }

    /** The fault as the replay's VM type sees it: the same GFN, private or shared as the trace's. */
    private String fault(Target t, Step s) {
        int vcpu = Integer.parseInt(TraceReader.field(s.text, "vcpu"));
        long gpa = Required.hex(TraceReader.field(s.text, "address"));
        long errorCode = Required.hex(TraceReader.field(s.text, "error_code"));
        boolean isPrivate = (errorCode & PRIVATE_ACCESS) != 0;
        if (!t.vm.type().equals(t.tracedType)) {
            int bit = t.vm.capabilities().sharedBit();
            gpa &= ~t.tracedSharedMask;
            if (!isPrivate && t.vm.capabilities().privateSource() == PrivateSource.SHARED_BIT && bit > 0)
                gpa |= 1L << bit;
        }
        try {
            return t.vm.fault(vcpu, gpa, errorCode).name();
        } catch (MmuException e) {
            return e.errno().name();
        }
    }

    /** Runs an operation; returns its errno, null when it succeeded, or "skipped: why". */
    private String operation(Target t, Step s, Operation op, ReplayResult result) {
        Vm vm = t.vm;
        boolean sameType = vm.type().equals(t.tracedType);
        try {
            switch (op.name()) {
            case "KVM_SET_USER_MEMORY_REGION2" -> region(vm, op);
            case "KVM_GET_DIRTY_LOG" -> vm.getDirtyLog(op.integer("slot"));
            case "KVM_CLEAR_DIRTY_LOG" -> vm.clearDirtyLog(op.integer("slot"), op.number("gpa"), op.number("size"));
            case "KVM_SET_MEMORY_ATTRIBUTES" -> vm.setMemoryAttributes(op.number("gpa"), op.number("size"),
                    op.flag("private"));
            case "FALLOC_FL_PUNCH_HOLE" -> vm.punchHole(op.number("gpa"), op.number("size"));
            case "KVM_PRE_FAULT_MEMORY" -> vm.prefault(op.integer("vcpu"), op.number("gpa"), op.number("size"));
            case "kvm_zap_gfn_range" -> vm.zapGfnRange(op.number("gpa"), op.number("size"));
            case "mmu_notifier_invalidate_range" -> vm.notifyUnmap(op.number("gpa"), op.number("size"));
            case "clear_young" -> vm.age(op.number("gpa"), op.number("size"));
            case "test_young" -> vm.testAge(op.number("gpa"), op.number("size"));
            case "kvm_recover_nx_huge_pages" -> vm.recoverNxHugePages();
            case "KVM_HC_MAP_GPA_RANGE" -> {
                if (!vm.capabilities().privateMem())
                    return skipped(result, op, vm.type() + " has no private memory");
                vm.mapGpaRange(op.integer("vcpu"), op.flag("private"), guestGpa(t, op, sameType), op.number("size"));
            }
            case "guest_accept" -> {
                if (!vm.capabilities().acceptance())
                    return skipped(result, op, vm.type() + " guests do not accept memory");
                vm.accept(op.integer("vcpu"), guestGpa(t, op, sameType), op.number("size"),
                        PageSize.parse(op.word("level")));
            }
            case "backend_verb" -> {
                String verb = op.word("name");
                VerbSpec spec = spec(vm.type(), verb);
                if (!sameType && spec == null)
                    return skipped(result, op, verb + " is not a verb of " + vm.type());
                if (spec == null)
                    return skipped(result, op, verb + " is not a verb of " + vm.type() + " now");
                vm.invoke(verb, BackendVerbs.args(spec, op.options(), flags(op)));
            }
            case "kvm_destroy_vm" -> {
                check(t, "before its destruction (line " + s.line + ")");
                vm.destroy();
            }
            default -> throw new IllegalStateException(op.name() + ": Required refuses an unknown operation before a "
                    + "replay runs");
            }
            return null;
        } catch (MmuException e) {
            return e.errno().name();
        }
    }

    private static void region(Vm vm, Operation op) {
        int slot = op.integer("slot");
        if (op.has("log_dirty_pages"))
            vm.setDirtyLogging(slot, op.flag("log_dirty_pages"), new DirtyLogOptions(op.flag("eager_split"),
                    op.flag("initially_set"), op.has("manual_protect") ? op.flag("manual_protect")
                            : op.flag("initially_set"))); // a trace before 2026-12-06: as initially set
        else if (op.has("move"))
            vm.moveMemslot(slot, op.number("move"));
        else if (op.number("size") == 0)
            vm.deleteMemslot(slot);
        else
            vm.addMemslot(slot, op.number("gpa"), op.number("size"), slotFlags(op.word("flags")),
                    PageSize.parse(op.word("backing")));
    }

    private static Set<SlotFlag> slotFlags(String words) {
        if (words.equals("none"))
            return Set.of();
        Set<SlotFlag> out = new java.util.HashSet<>();
        for (String w : words.split(","))
            out.add(SlotFlag.valueOf(w.toUpperCase(java.util.Locale.ROOT)));
        return out;
    }

    private static Set<String> flags(Operation op) {
        return op.has("flags") ? Set.of(op.word("flags").split(",")) : Set.of();
    }

    /** A guest's GPA moved to the replay VM's type: without the traced type's shared bit. */
    private static long guestGpa(Target t, Operation op, boolean sameType) {
        long gpa = op.number("gpa");
        return sameType ? gpa : gpa & ~t.tracedSharedMask;
    }

    /** The spec of {@code verb} of VM type {@code type}, or null when no backend contributes it now. */
    private VerbSpec spec(String type, String verb) {
        for (VerbSpec v : manager.verbs())
            if (v.namespace().equals(type) && (v.name().equals(verb) || v.name().equals(type + "." + verb)))
                return v;
        return null;
    }

    private static String skipped(ReplayResult result, Operation op, String why) {
        result.skipped.merge(op.name() + " (" + why + ")", 1L, Long::sum);
        return "skipped: " + why;
    }

    private void compare(Target t, Step s, List<SpteChange> made, String got, ReplayResult result) {
        List<Object> traced = keys(s.changes), replayed = keys(made);
        List<Object> traceOnly = minus(traced, replayed), replayOnly = minus(replayed, traced);
        boolean skippedQuietly = got != null && got.startsWith("skipped") && s.changes.isEmpty();
        String expected = s.result;
        boolean resultDiffers = !skippedQuietly && !Objects.equals(expected, got)
                && !(s.kind == Step.Kind.FAULT && expected == null);
        if (traceOnly.isEmpty() && replayOnly.isEmpty() && !resultDiffers)
            return;
        t.differing++;
        result.differences.add(new Difference(s, traceOnly, replayOnly, resultDiffers, expected, got));
    }

    /**
     * The changes as compared: every one with {@code --exact}; else their shapes, without the changes that keep the
     * shape (clearing A/D bits: the hardware sets them between traced events, which no trace shows).
     */
    private List<Object> keys(List<SpteChange> changes) {
        List<Object> out = new ArrayList<>(changes.size());
        for (SpteChange c : changes)
            if (options.exact())
                out.add(c);
            else if (!c.keepsShape())
                out.add(c.shape());
        return out;
    }

    /** {@code a} without one occurrence of each element of {@code b} (a multiset difference, order kept). */
    static List<Object> minus(List<Object> a, List<Object> b) {
        if (a.equals(b))
            return List.of();
        Map<Object, Integer> left = new HashMap<>();
        for (Object x : b)
            left.merge(x, 1, Integer::sum);
        List<Object> out = new ArrayList<>();
        for (Object x : a) {
            Integer n = left.get(x);
            if (n != null && n > 0)
                left.put(x, n - 1);
            else
                out.add(x);
        }
        return out;
    }

    private void check(Target t, String when) {
        if (t.vm == null || t.vm.bugged())
            return;
        try {
            for (String v : t.vm.check().violations())
                t.violations.add(when + ": " + v);
        } catch (MmuException e) {
            // destroyed or suspended: nothing to check
        }
    }

    private void finish(Target t) {
        if (t.vm == null || manager.find(t.vm.name()).isEmpty())
            return;
        check(t, "at the end of the trace");
        try {
            t.vm.destroy();
        } catch (MmuException e) {
            // bugged VMs still tear down; anything else leaves nothing to clean
        }
    }
}
