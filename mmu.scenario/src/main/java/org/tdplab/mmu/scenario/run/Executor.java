package org.tdplab.mmu.scenario.run;

import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.scenario.lang.CoreVerbs;
import org.tdplab.mmu.scenario.lang.Level;
import org.tdplab.mmu.scenario.lang.Schema;
import org.tdplab.mmu.scenario.lang.Statement;
import org.tdplab.mmu.scenario.workload.Report;
import org.tdplab.mmu.scenario.workload.Workloads;

/**
 * Runs one statement (not an {@code expect} line) against the model: one {@link Vm} call per statement, with the
 * contract's defaults filled in. A refusal ({@link MmuException}) becomes a failed {@link Outcome}; anything else
 * thrown is a bug in the model and propagates.
 */
final class Executor {
    private static final Set<String> CORE_VERBS = CoreVerbs.all().stream().map(Schema::verb)
            .collect(Collectors.toUnmodifiableSet());
    private static final long PAGE = 4096;

    private final ScenarioVms vms;

    Executor(ScenarioVms vms) {
        this.vms = vms;
    }

    Outcome execute(Statement s) {
        try {
            return dispatch(s);
        } catch (MmuException e) {
            Outcome o = Outcome.error(e.errno(), vms.display(e.reason()));
            e.remaining().ifPresent(r -> o.handedBack(r.gpa(), r.size()));
            return o;
        }
    }

    private Outcome dispatch(Statement s) {
        if (!CORE_VERBS.contains(s.verb()))
            return backendVerb(s);
        if (s.verb().equals("vm.create"))
            return create(s);
        ScenarioVm v = vms.require(s.vm());
        switch (s.verb()) {
        case "vm.destroy" -> {
            return destroy(v);
        }
        case "guest" -> {
            return guest(v, s);
        }
        case "run" -> {
            return workload(v, s);
        }
        default -> {
            return host(v, v.live(), s);
        }
        }
    }

    /**
     * {@code run VM WORKLOAD …}: its report lines; a memslot it added ({@code backing=}) is remembered, also when the
     * workload failed after adding it (the slot stays in the VM).
     */
    private static Outcome workload(ScenarioVm v, Statement s) {
        Map<String, String> options = s.extraOptions();
        long gpa = s.number("gpa"), size = s.number("size");
        int slot = options.containsKey("backing") ? toInt("slot", s.optionalNumber("slot", 0)) : -1;
        Report r = Workloads.run(v.live(), s.word("WORKLOAD"), gpa, size, toInt("vcpus", s.number("vcpus")), options,
                v::workloadSlot, () -> v.slotAdded(slot, gpa, size, false));
        return Outcome.report(r.lines());
    }

    private Outcome create(Statement s) {
        int vcpus = toInt("vcpus", s.optionalNumber("vcpus", 1));
        int gpaw = toInt("gpaw", s.optionalNumber("gpaw", 48));
        vms.create(s.vm(), s.word("type"), vcpus, gpaw, s.extraOptions());
        return Outcome.ok();
    }

    /** Teardown that hits {@code KVM_BUG_ON} fails the statement with EIO, as later ioctls on the VM would. */
    private static Outcome destroy(ScenarioVm v) {
        Vm vm = v.live();
        boolean wasBugged = vm.bugged();
        vm.destroy();
        v.destroyed(true);
        if (!wasBugged && vm.bugged())
            return Outcome.error(Errno.EIO, "VM '" + v.name + "': teardown hit KVM_BUG_ON: "
                    + vm.bugReason().orElse("?"));
        return Outcome.ok();
    }

    private Outcome host(ScenarioVm v, Vm vm, Statement s) {
        switch (s.verb()) {
        case "slot.add" -> {
            int id = slotId(s);
            long gpa = s.number("gpa"), size = s.number("size");
            PageSize backing = s.optionalLevel("backing").map(Executor::pageSize).orElse(PageSize.SIZE_4K);
            Set<SlotFlag> flags = slotFlags(s);
            vm.addMemslot(id, gpa, size, flags, backing);
            v.slotAdded(id, gpa, size, flags.contains(SlotFlag.DIRTY_LOG));
        }
        case "slot.delete" -> {
            int id = slotId(s);
            vm.deleteMemslot(id);
            v.slotDeleted(id);
        }
        case "slot.move" -> {
            int id = slotId(s);
            vm.moveMemslot(id, s.number("gpa"));
            v.slotMoved(id, s.number("gpa"));
        }
        case "slot.log" -> {
            int id = slotId(s);
            boolean initiallySet = s.optionalWord("initially_set", "off").equals("on");
            // initially_set=on is the contract's manual-protect mode: manual protect unless written off (EINVAL)
            vm.setDirtyLogging(id, s.has("on"), new DirtyLogOptions(s.optionalWord("eager_split", "on").equals("on"),
                    initiallySet, s.optionalWord("manual_protect", initiallySet ? "on" : "off").equals("on")));
            v.logging(id, s.has("on"));
        }
        case "attr.set" -> vm.setMemoryAttributes(s.number("gpa"), s.number("size"), s.has("private"));
        case "gmem.punch" -> vm.punchHole(s.number("gpa"), s.number("size"));
        case "prefault" -> {
            long gpa = s.number("gpa"), size = s.number("size");
            long left = vm.prefault(toInt("vcpu", s.optionalNumber("vcpu", 0)), gpa, size);
            return Outcome.remaining(gpa + size - left, left);
        }
        case "dirty.get" -> {
            int id = slotId(s);
            if (!vm.dead()) // a dead VM's ioctl answers EIO before it looks at the slot
                v.slot(id); // ENOENT before the ioctl: a refused statement takes no bitmap and protects nothing
            v.dirtyLog(id, vm.getDirtyLog(id));
        }
        case "dirty.clear" -> {
            int id = slotId(s);
            long[] range = s.hasOption("gpa") ? new long[] { s.number("gpa"), s.number("size") }
                    : vm.dead() ? new long[] { 0, 0 } // the ioctl answers EIO before it reads the range
                    : v.slot(id);
            vm.clearDirtyLog(id, range[0], range[1]);
        }
        case "zap" -> vm.zapGfnRange(s.number("gpa"), s.number("size"));
        case "notify.unmap" -> vm.notifyUnmap(s.number("gpa"), s.number("size"));
        case "age" -> {
            return Outcome.result(vm.age(s.number("gpa"), s.number("size")));
        }
        case "test_age" -> {
            return Outcome.result(vm.testAge(s.number("gpa"), s.number("size")));
        }
        case "check" -> {
            return Outcome.violations(vm.check().violations().stream().map(vms::display).toList());
        }
        default -> throw new IllegalStateException(s.where() + ": no runner for verb " + s.verb());
        }
        return Outcome.ok();
    }

    private Outcome guest(ScenarioVm v, Statement s) {
        Vm vm = v.live();
        int vcpu = toInt("vcpu", s.number("vcpu"));
        long gpa = s.number("gpa");
        // the thread acts as that vCPU's thread meanwhile (named as a workload's are, so traces show the vCPU)
        Thread thread = Thread.currentThread();
        String name = thread.getName();
        thread.setName("vcpu-" + vcpu + "-guest");
        AccessResult r;
        try {
            r = switch (s.mode()) {
            case "convert" -> vm.convert(vcpu, s.has("private"), gpa, s.number("size"));
            case "accept" -> vm.accept(vcpu, gpa, s.number("size"),
                    s.optionalLevel("level").map(Executor::pageSize).orElse(PageSize.SIZE_4K));
            default -> access(vm, s, vcpu, gpa);
            };
        } finally {
            thread.setName(name);
        }
        // KVM_RUN on a dead VM fails with EIO (KVM_REQ_VM_DEAD); it is not an exit a scenario names
        if (r.exit() != null && r.exit().reason() == Exit.Reason.VM_DEAD)
            return Outcome.error(Errno.EIO, vms.display(r.exit().detail()));
        return Outcome.access(r);
    }

    private static AccessResult access(Vm vm, Statement s, int vcpu, long gpa) {
        Access access = Access.valueOf(s.mode().toUpperCase(java.util.Locale.ROOT));
        if (access != Access.WRITE && s.hasOption("value"))
            throw new MmuException(Errno.EINVAL, "value=%s: only a write stores a value; a %s returns one",
                    s.value("value").text(), s.mode());
        Encoding encoding = s.has("private") ? Encoding.PRIVATE : s.has("shared") ? Encoding.SHARED : Encoding.CURRENT;
        long value = s.optionalNumber("value", Vm.DEFAULT_TOKEN);
        return vm.access(vcpu, access, gpa, s.optionalNumber("size", PAGE), encoding, value);
    }

    /**
     * {@code NS.VERB VM …}: the verb of the backend serving the VM's type, with its options typed by its spec; the
     * result's count answers {@code expect result}, the range it hands back {@code expect remaining}.
     */
    private Outcome backendVerb(Statement s) {
        ScenarioVm v = vms.require(s.vm());
        Vm vm = v.live();
        String ns = s.schema().namespace();
        if (!ns.equals(vm.type()))
            throw new MmuException(Errno.EINVAL, "%s applies to VMs of type %s; VM '%s' is of type %s", s.verb(), ns,
                    v.name, vm.type());
        VerbSpec spec = BackendVerbs.find(vms.verbs(), s.verb()).orElseThrow(() -> new MmuException(Errno.ENOTSUP,
                "no backend of type %s contributes %s now", ns, s.verb()));
        VerbResult r = vm.invoke(s.verb().substring(ns.length() + 1), BackendVerbs.args(spec, s));
        return Outcome.of(r);
    }

    private static int slotId(Statement s) {
        return toInt("slot id", s.number("ID"));
    }

    private static Set<SlotFlag> slotFlags(Statement s) {
        Set<SlotFlag> flags = EnumSet.noneOf(SlotFlag.class);
        for (String f : s.list("flags"))
            flags.add(SlotFlag.valueOf(f.toUpperCase(java.util.Locale.ROOT)));
        return flags;
    }

    private static PageSize pageSize(Level level) {
        return PageSize.ofLevel(level.number());
    }

    /** A number that must fit an {@code int} argument (ids, vCPU indexes, counts). */
    private static int toInt(String what, long value) {
        if (value < 0 || value > Integer.MAX_VALUE)
            throw new MmuException(Errno.EINVAL, "%s=%s is out of range", what, Long.toUnsignedString(value));
        return (int) value;
    }
}
