package org.tdplab.mmu.scenario.replay;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.scenario.trace.Operation;
import org.tdplab.mmu.scenario.trace.TraceReader;

/**
 * What each traced step must carry for a replay to run it, as {@code tdplab_vm_op} and {@code kvm_page_fault}
 * write them. The whole trace is checked before anything runs, so a line with a field missing is reported as
 * {@code FILE:LINE} with what is missing instead of failing half-way.
 */
final class Required {
    private static final List<String> GPA_SIZE = List.of("gpa", "size");
    private static final Map<String, List<String>> KEYS = Map.ofEntries(
            Map.entry("KVM_CREATE_VM", List.of("type", "vcpus", "gpaw")),
            Map.entry("KVM_SET_USER_MEMORY_REGION2", List.of("slot")),
            Map.entry("KVM_GET_DIRTY_LOG", List.of("slot")),
            Map.entry("KVM_CLEAR_DIRTY_LOG", List.of("slot", "gpa", "size")),
            Map.entry("KVM_SET_MEMORY_ATTRIBUTES", List.of("gpa", "size", "private")),
            Map.entry("FALLOC_FL_PUNCH_HOLE", GPA_SIZE),
            Map.entry("KVM_PRE_FAULT_MEMORY", List.of("vcpu", "gpa", "size")),
            Map.entry("kvm_zap_gfn_range", GPA_SIZE),
            Map.entry("mmu_notifier_invalidate_range", GPA_SIZE),
            Map.entry("clear_young", GPA_SIZE),
            Map.entry("test_young", GPA_SIZE),
            Map.entry("KVM_HC_MAP_GPA_RANGE", List.of("vcpu", "gpa", "size", "private")),
            Map.entry("guest_accept", List.of("vcpu", "gpa", "size", "level")),
            Map.entry("backend_verb", List.of("name")),
            Map.entry("kvm_recover_nx_huge_pages", List.of()),
            Map.entry("kvm_destroy_vm", List.of()));
    /** Keys whose values are words, not numbers. */
    private static final Set<String> WORDS = Set.of("type", "name", "flags", "backing", "level");
    private static final Set<String> SLOT_FLAGS = Set.of("gmem", "readonly", "dirty_log");
    private static final Set<String> INTS = Set.of("vcpus", "gpaw", "slot", "vcpu", "shared_bit");

    private Required() {
    }

    /** What an operation lacks or has malformed, or null when a replay can run it. */
    static String problem(Operation op) {
        if (op.name().isEmpty())
            return "tdplab_vm_op without an operation";
        if (!KEYS.containsKey(op.name())) // a replay cannot run it, so cannot tell whether it would end the same
            return "unknown operation '" + op.name() + "' (a replay runs " + String.join(", ", new java.util.TreeSet<>(
                    KEYS.keySet())) + ")";
        List<String> keys = new ArrayList<>(KEYS.getOrDefault(op.name(), List.of()));
        if (op.name().equals("KVM_SET_USER_MEMORY_REGION2") && !op.has("log_dirty_pages") && !op.has("move")) {
            keys.add("size");
            if (op.has("size") && !isZero(op.args().get("size")))
                keys.addAll(List.of("gpa", "flags", "backing"));
        }
        List<String> missing = new ArrayList<>();
        for (String k : keys)
            if (!op.has(k) || op.args().get(k).isEmpty())
                missing.add(k + "=");
        if (!missing.isEmpty())
            return op.name() + " has no " + String.join(", ", missing) + " (it needs " + String.join("= ", keys) + "=)";
        for (String k : op.args().keySet()) {
            if (WORDS.contains(k) || k.startsWith("option.") || !KEYS.containsKey(op.name()))
                continue;
            try {
                if (INTS.contains(k))
                    op.integer(k);
                else
                    op.number(k);
            } catch (MmuException | ArithmeticException e) {
                return op.name() + " " + k + "=" + op.args().get(k) + " is not a number"
                        + (INTS.contains(k) ? " that fits an int" : "");
            }
        }
        if (keys.contains("flags") && !op.word("flags").equals("none"))
            for (String f : op.word("flags").split(","))
                if (!SLOT_FLAGS.contains(f))
                    return op.name() + " flags=" + op.word("flags") + ": '" + f
                            + "' is not gmem, readonly or dirty_log";
        for (String k : List.of("backing", "level"))
            if (keys.contains(k) && !isSize(op.args().get(k)))
                return op.name() + " " + k + "=" + op.args().get(k) + " is not 4K, 2M or 1G";
        return null;
    }

    /** What a {@code kvm_page_fault} lacks or has malformed, or null. */
    static String faultProblem(String fields) {
        List<String> missing = new ArrayList<>();
        for (String k : List.of("vcpu", "address", "error_code"))
            if (TraceReader.field(fields, k) == null)
                missing.add(k);
        if (!missing.isEmpty())
            return "kvm_page_fault has no " + String.join(", ", missing) + " (it needs vcpu, address and error_code)";
        try {
            Integer.parseInt(TraceReader.field(fields, "vcpu"));
        } catch (NumberFormatException e) {
            return "kvm_page_fault vcpu " + TraceReader.field(fields, "vcpu") + " is not a vCPU number";
        }
        for (String k : List.of("address", "error_code"))
            if (hex(TraceReader.field(fields, k)) == null)
                return "kvm_page_fault " + k + " " + TraceReader.field(fields, k) + " is not a 0x… number";
        return null;
    }

    /** A {@code 0x}-prefixed 64-bit number, or null. */
    static Long hex(String v) {
        if (v == null || !v.startsWith("0x"))
            return null;
        try {
            return Long.parseUnsignedLong(v.substring(2), 16);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static boolean isZero(String v) {
        return v.equals("0") || v.equals("0x0");
    }

    private static boolean isSize(String v) {
        try {
            PageSize.parse(v);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }
}
