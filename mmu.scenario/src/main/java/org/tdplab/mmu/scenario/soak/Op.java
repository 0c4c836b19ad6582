package org.tdplab.mmu.scenario.soak;

import java.util.Map;
import java.util.Set;

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
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.scenario.lang.Numbers;

/**
 * One operation of a soak or property sequence: what a vCPU or the VMM does to a VM, applied through the
 * {@link Vm} API exactly as the scenario runner applies the statement {@link #statement} renders, so a sequence
 * written out as a scenario file runs the same calls in the same order.
 *
 * @param kind what is done
 * @param vcpu the vCPU (guest operations, prefault)
 * @param gpa  the first byte (page aligned)
 * @param size the bytes (a multiple of 4K)
 * @param arg  the variant: read/write/exec, private/shared, slot id, on/off; for a write also the value
 */
public record Op(Kind kind, int vcpu, long gpa, long size, int arg) {
    /** What an operation does. Guest operations come first. */
    public enum Kind {
        ACCESS, CONVERT, ACCEPT, PREFAULT, ZAP, UNMAP, AGE, TEST_AGE, ATTR, PUNCH, SLOT_DELETE, SLOT_ADD, DIRTY_LOG,
        DIRTY_GET, DIRTY_CLEAR, NX_RECOVER, LAUNCH_UPDATE, FINALIZE
    }

    /** How an operation ended: an errno, a guest access that ended early, or done. */
    public record Outcome(String errno, AccessResult access) {
        static final Outcome OK = new Outcome(null, null);
    }

    private static final String[] ACCESSES = { "read", "write", "exec" };

    /** Whether this is a guest write. */
    boolean isWrite() {
        return kind == Kind.ACCESS && arg % 3 == 1;
    }

    /** The value a write stores: never 0 (0 is what a discarded page reads). */
    long value() {
        return 0x1000L + arg;
    }

    /** Applies the operation to {@code vm}; an errno is an outcome, anything else thrown is a model bug. */
    public Outcome apply(Vm vm, Layout layout) {
        try {
            AccessResult r = switch (kind) {
            case ACCESS -> vm.access(vcpu, Access.valueOf(ACCESSES[arg % 3].toUpperCase(java.util.Locale.ROOT)), gpa,
                    size, Encoding.CURRENT, isWrite() ? value() : Vm.DEFAULT_TOKEN);
            case CONVERT -> vm.convert(vcpu, arg % 2 == 0, gpa, size);
            case ACCEPT -> vm.accept(vcpu, gpa, size, PageSize.SIZE_4K);
            default -> {
                host(vm, layout);
                yield null;
            }
            };
            if (r != null && r.exit() != null && r.exit().reason() == Exit.Reason.VM_DEAD)
                return new Outcome(Errno.EIO.name(), null);
            return r == null || r.completed() ? Outcome.OK : new Outcome(null, r);
        } catch (MmuException e) {
            return new Outcome(e.errno().name(), null);
        }
    }

    private void host(Vm vm, Layout layout) {
        switch (kind) {
        case PREFAULT -> vm.prefault(vcpu, gpa, size);
        case ZAP -> vm.zapGfnRange(gpa, size);
        case UNMAP -> vm.notifyUnmap(gpa, size);
        case AGE -> vm.age(gpa, size);
        case TEST_AGE -> vm.testAge(gpa, size);
        case ATTR -> vm.setMemoryAttributes(gpa, size, arg % 2 == 0);
        case PUNCH -> vm.punchHole(gpa, size);
        case SLOT_DELETE -> vm.deleteMemslot(1);
        case SLOT_ADD -> vm.addMemslot(1, layout.slot1Gpa(), layout.slot1Size(),
                layout.gmem() ? Set.of(SlotFlag.GMEM) : Set.of(), PageSize.SIZE_4K);
        case DIRTY_LOG -> vm.setDirtyLogging(arg % 2, arg / 2 % 2 == 0, new DirtyLogOptions(arg / 4 % 2 == 0,
                arg / 8 % 2 == 1, arg / 8 % 2 == 1 || arg / 16 % 2 == 1));
        case DIRTY_GET -> vm.getDirtyLog(arg % 2);
        case DIRTY_CLEAR -> vm.clearDirtyLog(arg % 2, gpa, size);
        case NX_RECOVER -> vm.invoke("nx_recover", VerbArgs.none("nx_recover"));
        case LAUNCH_UPDATE -> {
            String verb = layout.type().equals("tdx") ? "init_mem_region" : "launch_update";
            vm.invoke(verb, new VerbArgs(verb, Map.<String, Object>of("gpa", gpa, "size", size), launchFlags(layout)));
        }
        case FINALIZE -> {
            String verb = layout.type().equals("tdx") ? "finalize" : "launch_finish";
            vm.invoke(verb, VerbArgs.none(verb));
        }
        default -> throw new IllegalStateException(kind.name());
        }
    }

    /** {@code measure} for TDX; none, {@code zero} or {@code unmeasured} for SNP. */
    private Set<String> launchFlags(Layout layout) {
        if (layout.type().equals("tdx"))
            return arg % 2 == 0 ? Set.of("measure") : Set.of();
        return switch (arg % 3) {
        case 0 -> Set.of();
        case 1 -> Set.of("zero");
        default -> Set.of("unmeasured");
        };
    }

    /** The scenario statement that does the same to VM {@code vm} of type {@code type}. */
    public String statement(String vm, String type, Layout layout) {
        String range = "gpa=" + Numbers.hex(gpa) + " size=" + org.tdplab.mmu.scenario.run.Text.size(size);
        return switch (kind) {
        case ACCESS -> "guest " + vm + " vcpu=" + vcpu + " " + ACCESSES[arg % 3] + " " + range
                + (arg % 3 == 1 ? " value=" + Numbers.hex(value()) : "");
        case CONVERT -> "guest " + vm + " vcpu=" + vcpu + " convert " + (arg % 2 == 0 ? "private" : "shared") + " "
                + range;
        case ACCEPT -> "guest " + vm + " vcpu=" + vcpu + " accept " + range + " level=4K";
        case PREFAULT -> "prefault " + vm + " " + range + " vcpu=" + vcpu;
        case ZAP -> "zap " + vm + " " + range;
        case UNMAP -> "notify.unmap " + vm + " " + range;
        case AGE -> "age " + vm + " " + range;
        case TEST_AGE -> "test_age " + vm + " " + range;
        case ATTR -> "attr.set " + vm + " " + range + " " + (arg % 2 == 0 ? "private" : "shared");
        case PUNCH -> "gmem.punch " + vm + " " + range;
        case SLOT_DELETE -> "slot.delete " + vm + " 1";
        case SLOT_ADD -> "slot.add " + vm + " 1 gpa=" + Numbers.hex(layout.slot1Gpa()) + " size="
                + org.tdplab.mmu.scenario.run.Text.size(layout.slot1Size()) + (layout.gmem() ? " flags=gmem" : "")
                + " backing=4K";
        case DIRTY_LOG -> "slot.log " + vm + " " + arg % 2 + " " + (arg / 2 % 2 == 0 ? "on" : "off") + " eager_split="
                + (arg / 4 % 2 == 0 ? "on" : "off") + " initially_set=" + (arg / 8 % 2 == 1 ? "on" : "off")
                + " manual_protect=" + (arg / 8 % 2 == 1 || arg / 16 % 2 == 1 ? "on" : "off");
        case DIRTY_GET -> "dirty.get " + vm + " " + arg % 2;
        case DIRTY_CLEAR -> "dirty.clear " + vm + " " + arg % 2 + " " + range;
        case NX_RECOVER -> type + ".nx_recover " + vm;
        case LAUNCH_UPDATE -> type + (type.equals("tdx") ? ".init_mem_region " : ".launch_update ") + vm + " " + range
                + launchFlags(layout).stream().map(f -> " " + f).reduce("", String::concat);
        case FINALIZE -> type + (type.equals("tdx") ? ".finalize " : ".launch_finish ") + vm;
        };
    }

    /** The statement and the {@code expect} line its outcome needs (none when it simply succeeded). */
    public String statement(String vm, String type, Layout layout, Outcome outcome, long sharedMask) {
        String s = statement(vm, type, layout);
        if (outcome == null)
            return s;
        if (outcome.errno() != null)
            return s + "\nexpect error " + outcome.errno();
        AccessResult r = outcome.access();
        if (r == null)
            return s;
        return s + "\nexpect " + (r.exit() != null ? org.tdplab.mmu.scenario.run.Text.exit(r.exit(), sharedMask)
                : "exception " + r.exception());
    }
}
