package org.tdplab.mmu.scenario.lang;

import static org.tdplab.mmu.scenario.lang.ValueType.LEVEL;
import static org.tdplab.mmu.scenario.lang.ValueType.NUMBER;
import static org.tdplab.mmu.scenario.lang.ValueType.WORD;
import static org.tdplab.mmu.scenario.lang.ValueType.oneOf;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The statement forms of {@code SCENARIO.md}; each {@link Schema#usage()} is the contract's own spelling. */
public final class CoreVerbs {
    private CoreVerbs() {
    }

    /** The errno names {@code expect error} accepts: the contract's list plus ENOMEM, ENOSPC, E2BIG. */
    public static final List<String> ERRNOS = List.of("EINVAL", "EEXIST", "ENOENT", "EFAULT", "EIO", "EAGAIN",
            "EBUSY", "ENODEV", "ENOTSUP", "EPERM", "ENOMEM", "ENOSPC", "E2BIG");

    /**
     * The exception names {@code expect exception} always accepts: the contract's VE, VC, PF, plus GP and MC; the
     * names the loaded backends declare come on top ({@link VerbCatalog#exceptions()}).
     */
    public static final List<String> EXCEPTIONS = List.of("VE", "VC", "PF", "GP", "MC");

    /** The workloads of {@code run}. */
    public static final List<String> WORKLOADS = List.of("demand_paging", "dirty_log", "conversions",
            "memslot_stress", "access_tracking");

    /** The comparison operators of {@code expect stat} ({@code ==} is accepted as {@code =}). */
    public static final List<String> OPERATORS = List.of("=", "!=", "<", "<=", ">", ">=");

    /** The slot flags of {@code slot.add … flags=}. */
    public static final List<String> SLOT_FLAGS = List.of("gmem", "readonly", "dirty_log");

    /** Address and size placeholders, as the contract writes them. */
    private static final String A = "A", S = "S", N = "N";

    /** The core forms with the core workloads. */
    public static List<Schema> all() {
        return all(Set.of(), Set.of());
    }

    /**
     * The core forms, {@code run} also accepting {@code extraWorkloads} and {@code expect exception} also
     * {@code extraExceptions}.
     */
    public static List<Schema> all(Set<String> extraWorkloads, Set<String> extraExceptions) {
        Set<String> workloads = new LinkedHashSet<>(WORKLOADS);
        workloads.addAll(extraWorkloads);
        Set<String> exceptions = new LinkedHashSet<>(EXCEPTIONS);
        exceptions.addAll(extraExceptions);
        ValueType onOff = oneOf("on", "off");
        List<Schema> l = new ArrayList<>();
        // host (VMM) statements
        l.add(Schema.verb("vm.create").positional("VM").required("type", WORD, "T").optional("vcpus", NUMBER, N)
                .optional("gpaw", NUMBER, "48|52").freeOptions().build());
        l.add(Schema.verb("vm.destroy").positional("VM").build());
        l.add(Schema.verb("slot.add").positional("VM").positional("ID", NUMBER).required("gpa", NUMBER, A)
                .required("size", NUMBER, S).optional("flags", ValueType.listOf(SLOT_FLAGS.toArray(String[]::new)))
                .optional("backing", LEVEL).build());
        l.add(Schema.verb("slot.delete").positional("VM").positional("ID", NUMBER).build());
        l.add(Schema.verb("slot.move").positional("VM").positional("ID", NUMBER).required("gpa", NUMBER, A).build());
        l.add(Schema.verb("slot.log").positional("VM").positional("ID", NUMBER).choice("on", "off")
                .optional("eager_split", onOff).optional("initially_set", onOff)
                .optional("manual_protect", onOff).build());
        l.add(Schema.verb("attr.set").positional("VM").required("gpa", NUMBER, A).required("size", NUMBER, S)
                .choice("private", "shared").build());
        l.add(range("gmem.punch"));
        l.add(Schema.verb("prefault").positional("VM").required("gpa", NUMBER, A).required("size", NUMBER, S)
                .optional("vcpu", NUMBER, N).build());
        l.add(Schema.verb("dirty.get").positional("VM").positional("ID", NUMBER).build());
        l.add(Schema.verb("dirty.clear").positional("VM").positional("ID", NUMBER).optional("gpa", NUMBER, A)
                .optional("size", NUMBER, S).together("gpa", "size").build());
        l.add(range("zap"));
        l.add(range("notify.unmap"));
        l.add(range("age"));
        l.add(range("test_age"));
        l.add(Schema.verb("check").positional("VM").build());
        // guest statements
        l.add(Schema.verb("guest").positional("VM").required("vcpu", NUMBER, N).mode("read", "write", "exec")
                .required("gpa", NUMBER, A).optional("size", NUMBER, S).optionalChoice("private", "shared")
                .optional("value", NUMBER, "V").build());
        l.add(Schema.verb("guest").positional("VM").required("vcpu", NUMBER, N).mode("convert")
                .choice("private", "shared").required("gpa", NUMBER, A).required("size", NUMBER, S).build());
        l.add(Schema.verb("guest").positional("VM").required("vcpu", NUMBER, N).mode("accept")
                .required("gpa", NUMBER, A).required("size", NUMBER, S)
                .optional("level", ValueType.levels(Level.L4K, Level.L2M)).build());
        l.add(Schema.verb("run").positional("VM").positional("WORKLOAD", oneOf(workloads.toArray(String[]::new)))
                .required("gpa", NUMBER, A).required("size", NUMBER, S).required("vcpus", NUMBER, N).freeOptions()
                .build());
        // expectations
        l.add(Schema.verb("expect").word("error").positional("NAME", oneOf(ERRNOS.toArray(String[]::new))).build());
        l.add(Schema.verb("expect").word("exit").word("memory_fault").required("gpa", NUMBER, A)
                .required("size", NUMBER, S).choice("private", "shared").build());
        l.add(Schema.verb("expect").word("exit").word("mmio").required("gpa", NUMBER, A).build());
        l.add(Schema.verb("expect").word("exit").word("fail_entry").optional("reason", NUMBER, "R").build());
        l.add(Schema.verb("expect").word("exception").positional("NAME", oneOf(exceptions.toArray(String[]::new)))
                .build());
        l.add(Schema.verb("expect").word("value").positional("V", NUMBER).build());
        l.add(Schema.verb("expect").word("spte").positional("VM").required("gpa", NUMBER, A)
                .choice("present", "absent").optional("level", LEVEL).optional("root", oneOf("direct", "mirror"))
                .optional("writable", oneOf("yes", "no")).build());
        l.add(Schema.verb("expect").word("stat").positional("VM").positional("NAME", WORD)
                .positional("OP", oneOf(OPERATORS.toArray(String[]::new)).alias("==", "=").placeholder("OP"))
                .positional("N", NUMBER).build());
        l.add(Schema.verb("expect").word("vm").positional("VM").mode("bugged", "alive").build());
        l.add(Schema.verb("expect").word("vm").positional("VM").mode("dead").build());
        l.add(Schema.verb("expect").word("dirty").positional("VM").positional("ID", NUMBER)
                .required("count", NUMBER, N).build());
        l.add(Schema.verb("expect").word("dirty").positional("VM").positional("ID", NUMBER)
                .required("gpa", NUMBER, A).mode("set", "clear").build());
        l.add(Schema.verb("expect").word("result").positional("N", NUMBER).build());
        l.add(Schema.verb("expect").word("remaining").required("gpa", NUMBER, A).required("size", NUMBER, S).build());
        return List.copyOf(l);
    }

    private static Schema range(String verb) {
        return Schema.verb(verb).positional("VM").required("gpa", NUMBER, A).required("size", NUMBER, S).build();
    }
}
