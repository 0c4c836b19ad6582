package org.tdplab.mmu.tdp.vm;

import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;

import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;

/**
 * The VMM's operations on a VM as trace text: the ioctl's name, then {@code key=value} words (hex for addresses).
 * A replay parses them back, so every word here is part of the trace format (see the README's "Replay").
 * Nothing is formatted unless somebody listens.
 */
final class OperationStream {
    private final Tracer trace;

    OperationStream(Tracer trace) {
        this.trace = trace;
    }

    /** Tells observers of the operation, runs it, and tells them of its errno if it fails. */
    void run(Supplier<String> text, Runnable body) {
        call(text, () -> {
            body.run();
            return null;
        });
    }

    /**
     * As {@link #run}, with a result. Only the outermost operation of a thread is recorded: one that another runs
     * (a backend verb that recovers NX huge pages, say) is part of it, and a replay runs the outer one.
     */
    <T> T call(Supplier<String> text, Supplier<T> body) {
        if (!trace.on() || NESTED.get()[0] > 0)
            return body.get();
        trace.operation(text.get());
        int[] depth = NESTED.get();
        depth[0]++;
        try {
            return body.get();
        } catch (MmuException e) {
            trace.operationFailed(e.errno().name());
            throw e;
        } finally {
            depth[0]--;
        }
    }

    /** Whether the thread is inside a recorded operation. */
    boolean inside() {
        return NESTED.get()[0] > 0;
    }

    /** How many recorded operations the thread is inside. */
    private static final ThreadLocal<int[]> NESTED = ThreadLocal.withInitial(() -> new int[1]);

    static String createVm(String type, int vcpus, int gpaw, int sharedBit, Map<String, String> options) {
        StringBuilder s = new StringBuilder("KVM_CREATE_VM type=").append(type).append(" vcpus=").append(vcpus)
                .append(" gpaw=").append(gpaw);
        if (sharedBit > 0)
            s.append(" shared_bit=").append(sharedBit);
        new TreeMap<>(options).forEach((k, v) -> s.append(" option.").append(k).append('=').append(v));
        return s.toString();
    }

    static String addMemslot(int slot, long gpa, long size, Set<SlotFlag> flags, PageSize backing) {
        StringBuilder s = new StringBuilder(region(slot)).append(range(gpa, size)).append(" flags=");
        if (flags.isEmpty())
            s.append("none");
        else
            s.append(String.join(",", flags.stream().map(f -> f.name().toLowerCase(Locale.ROOT)).sorted().toList()));
        return s.append(" backing=").append(backing.label()).toString();
    }

    static String deleteMemslot(int slot) {
        return region(slot) + " size=0x0";
    }

    static String moveMemslot(int slot, long gpa) {
        return region(slot) + " move=0x" + Long.toHexString(gpa);
    }

    static String dirtyLogging(int slot, boolean enable, DirtyLogOptions o) {
        return region(slot) + " log_dirty_pages=" + (enable ? 1 : 0) + " eager_split=" + (o.eagerSplit() ? 1 : 0)
                + " initially_set=" + (o.initiallySet() ? 1 : 0) + " manual_protect=" + (o.manualProtect() ? 1 : 0);
    }

    static String getDirtyLog(int slot) {
        return "KVM_GET_DIRTY_LOG slot=" + slot;
    }

    static String clearDirtyLog(int slot, long gpa, long size) {
        return "KVM_CLEAR_DIRTY_LOG slot=" + slot + range(gpa, size);
    }

    static String attributes(long gpa, long size, boolean isPrivate) {
        return "KVM_SET_MEMORY_ATTRIBUTES" + range(gpa, size) + " private=" + (isPrivate ? 1 : 0);
    }

    static String mapGpaRange(int vcpu, long gpa, long size, boolean toPrivate) {
        return "KVM_HC_MAP_GPA_RANGE vcpu=" + vcpu + range(gpa, size) + " private=" + (toPrivate ? 1 : 0);
    }

    static String accept(int vcpu, long gpa, long size, PageSize level) {
        return "guest_accept vcpu=" + vcpu + range(gpa, size) + " level=" + level.label();
    }

    static String ranged(String name, long gpa, long size) {
        return name + range(gpa, size);
    }

    static String prefault(int vcpu, long gpa, long size) {
        return "KVM_PRE_FAULT_MEMORY vcpu=" + vcpu + range(gpa, size);
    }

    /**
     * A backend verb as a trace line: each option written as the scenario language writes its type (numbers as
     * unsigned decimal, a level as its page size, a boolean as on/off), so a replay parses it back with the verb's
     * spec.
     */
    static String verb(String verb, VerbArgs args) {
        StringBuilder s = new StringBuilder("backend_verb name=").append(verb);
        new TreeMap<>(args.values()).forEach((k, v) -> s.append(" option.").append(k).append('=').append(text(v)));
        if (!args.flags().isEmpty())
            s.append(" flags=").append(String.join(",", args.flags().stream().sorted().toList()));
        return s.toString();
    }

    private static String text(Object v) {
        if (v instanceof Long n)
            return Long.toUnsignedString(n);
        if (v instanceof Integer level)
            return PageSize.ofLevel(level).label();
        if (v instanceof Boolean b)
            return b ? "on" : "off";
        return String.valueOf(v);
    }

    private static String region(int slot) {
        return "KVM_SET_USER_MEMORY_REGION2 slot=" + slot;
    }

    private static String range(long gpa, long size) {
        return " gpa=0x" + Long.toHexString(gpa) + " size=0x" + Long.toHexString(size);
    }
}
