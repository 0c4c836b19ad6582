package org.tdplab.mmu.scenario.shell;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Schema;

/**
 * The shell's help: one line per tdplab command, and per command its usage lines, what each argument means and an
 * example. Statement commands take their usage from the language's own forms (backend verbs and VM-type options
 * included), so help never disagrees with the parser.
 */
public final class Help {
    /** A command: its name, the statement it runs (if any), one line, and examples. */
    public record Command(String name, List<String> verbs, String summary, List<String> examples) {
    }

    /** The tdplab commands in the order {@code help} lists them. */
    public static final List<Command> COMMANDS = List.of(
            new Command("create", List.of("vm.create"), "create a VM (the statement vm.create)",
                    List.of("create td type=tdx vcpus=2", "create vm type=default slot_zap_all=off")),
            new Command("slot", List.of("slot.add", "slot.delete", "slot.move", "slot.log"),
                    "add, delete or move a memslot, or log its dirty pages (slot.add|delete|move|log)",
                    List.of("slot td 0 gpa=0 size=8M flags=gmem", "slot delete td 0")),
            new Command("attr", List.of("attr.set"), "make a GPA range private or shared (attr.set)",
                    List.of("attr td gpa=0 size=4M private")),
            new Command("access", List.of("guest"),
                    "a vCPU reads, writes, executes, converts or accepts memory (guest)",
                    List.of("access td vcpu=0 accept gpa=0 size=64K", "access vm vcpu=1 write gpa=0x2000 value=0x5")),
            new Command("zap", List.of("zap"), "zap a GPA range as a memory-type change does (kvm_zap_gfn_range)",
                    List.of("zap vm gpa=0 size=2M")),
            new Command("check", List.of("check"), "run the invariant checker on a VM (check)",
                    List.of("check td")),
            new Command("do", List.of(), "run any statement or expectation of the scenario language",
                    List.of("do tdx.finalize td", "do expect stat td TDH.MEM.PAGE.AUG = 16",
                            "do run vm demand_paging gpa=0 size=4M vcpus=2")),
            new Command("stats", List.of(), "a VM's counters that are not zero, optionally those starting with PREFIX; "
                    + "'firmware': only its firmware calls and their total (a destroyed VM: its final counters)",
                    List.of("stats td", "stats td TDH.", "stats td firmware")),
            new Command("dump", List.of(), "each page's walk in every root of a VM, every SPTE decoded",
                    List.of("dump td gpa=2M size=16K")),
            new Command("vms", List.of(), "the VMs that exist now: type, vCPUs, state (running, suspended, bugged, "
                    + "dead), backend", List.of("vms")),
            new Command("backends", List.of(), "the VM types discovered: capabilities, bundle and version",
                    List.of("backends")),
            new Command("run", List.of(), "run scenario files (as ./tdplab run; run --help for its options)",
                    List.of("run --checked scenarios/tutorial-td.scn")),
            new Command("replay", List.of(), "replay a trace on a VM type (as ./tdplab replay; replay --help)",
                    List.of("replay --type sw_protected td.trace")),
            new Command("help", List.of(), "this list; help COMMAND explains one", List.of("help create")),
            new Command("exit", List.of(), "leave the shell (its VMs are destroyed); also quit or Ctrl-D",
                    List.of("exit")),
            new Command("quit", List.of(), "leave the shell, as exit does", List.of("quit")));

    /** What the arguments of statement commands mean, by key or placeholder. */
    private static final Map<String, String> MEANING = new LinkedHashMap<>();
    static {
        MEANING.put("VM", "the VM's name");
        MEANING.put("ID", "the memslot's id (0..32763)");
        MEANING.put("WORKLOAD", "demand_paging, dirty_log, conversions, memslot_stress or access_tracking");
        MEANING.put("type", "the VM type");
        MEANING.put("vcpus", "its number of vCPUs (default 1)");
        MEANING.put("gpaw", "guest physical address width (default 48)");
        MEANING.put("gpa", "a guest physical address: 0x1000, 2M, … (4K-aligned, but in an access, which touches each "
                + "page it overlaps)");
        MEANING.put("size", "bytes: 4K, 2M, 0x3000, …");
        MEANING.put("flags", "gmem (private memory from a guest_memfd), readonly, dirty_log");
        MEANING.put("backing", "the largest host page or guest_memfd folio behind it (default 4K)");
        MEANING.put("vcpu", "which vCPU (from 0)");
        MEANING.put("value", "what a write stores in each page (default: the page's GPA)");
        MEANING.put("level", "the accept's page size (default 4K)");
        MEANING.put("eager_split", "split huge pages when logging starts (default on)");
        MEANING.put("initially_set", "start with every bit set, protect at each clear (default off)");
        MEANING.put("manual_protect", "get only copies the log, clear clears and protects (default off)");
        MEANING.put("read|write|exec", "the access");
        MEANING.put("convert", "the guest converts the range (its request, then KVM's and QEMU's handling)");
        MEANING.put("accept", "the guest accepts the range (TDG.MEM.PAGE.ACCEPT, PVALIDATE)");
        MEANING.put("measure", "extend the TD's measurement with the pages");
        MEANING.put("private|shared", "the guest's encoding (shared bit, C-bit) or the attribute");
        MEANING.put("on|off", "logging on or off");
    }

    /** The width help wraps at. */
    static final int WIDTH = 116;

    private final Parser language;
    private final Map<String, List<VmOption>> typeOptions;

    /** Help over the language now ({@code language}) and the VM types discovered now. */
    public Help(Parser language, Map<String, List<VmOption>> typeOptions) {
        this.language = language;
        this.typeOptions = typeOptions;
    }

    /** The command called {@code name}, or the one that runs the statement {@code name} ({@code vm.create}). */
    public static Optional<Command> command(String name) {
        String n = name.startsWith("mmu:") ? name.substring(4) : name;
        return COMMANDS.stream().filter(c -> c.name().equals(n)).findFirst()
                .or(() -> COMMANDS.stream().filter(c -> c.verbs().contains(n)).findFirst());
    }

    /** {@code help}: tdplab's commands, one line each. */
    public List<String> list() {
        List<String> out = new ArrayList<>();
        out.add("tdplab commands (help COMMAND for its usage, options and an example; Tab completes):");
        for (Command c : COMMANDS)
            out.add(String.format("  %-9s %s", c.name(), c.summary()));
        return out;
    }

    /** {@code help COMMAND} for a tdplab command. */
    public List<String> page(Command c) {
        List<String> out = new ArrayList<>();
        List<Schema> forms = new ArrayList<>();
        c.verbs().forEach(v -> forms.addAll(language.forms(v)));
        if (forms.isEmpty())
            out.add(usage(c));
        for (Schema f : forms)
            out.add(c.name() + " " + (c.name().equals("slot") && !f.verb().equals("slot.add")
                    ? f.verb().substring(5) + " " : "") + f.usage().substring(f.verb().length()).strip());
        out.add("    " + c.summary());
        if (!forms.isEmpty()) {
            out.add("");
            arguments(forms).forEach((k, v) -> out.add(String.format("  %-16s %s", k, v).stripTrailing()));
            if (c.name().equals("create"))
                typeOptions().forEach(l -> out.addAll(wrap(l, 42)));
        }
        if (c.name().equals("do"))
            out.add("    The line is a statement of the scenario language (docs/scenario-language.md); an expectation "
                    + "applies to the statement before it.");
        out.add("");
        c.examples().forEach(e -> out.add("example: " + e));
        return out;
    }

    private static String usage(Command c) {
        return switch (c.name()) {
        case "do" -> "do STATEMENT…";
        case "stats" -> "stats VM [PREFIX|firmware]";
        case "dump" -> "dump VM gpa=A [size=S]";
        case "run" -> "run [--checked] [--quiet] [--trace FILE] [--json FILE] [--html FILE] FILE…";
        case "replay" -> "replay [--type TYPE] [--option K=V]… [--checked] [--exact] [--max N] TRACE";
        case "help" -> "help [COMMAND]";
        default -> c.name();
        };
    }

    /** Each positional, option and flag group of the forms, once, with what it means. */
    private Map<String, String> arguments(List<Schema> forms) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Schema f : forms) {
            for (Schema.Positional p : f.positionals())
                out.putIfAbsent(p.name(), MEANING.getOrDefault(p.name(), ""));
            for (Schema.Option o : f.options().values()) {
                String meaning = MEANING.getOrDefault(o.key(), "");
                if (o.key().equals("type") && f.verb().equals("vm.create"))
                    meaning = "the VM type: " + String.join(", ", typeOptions.keySet());
                out.putIfAbsent(o.key() + "=" + o.placeholder(), meaning);
            }
            for (Schema.FlagGroup g : f.flagGroups())
                if (!out.containsKey(String.join("|", g.flags())) && !out.containsKey("[" + String.join("|", g.flags())
                        + "]"))
                    out.put(g.toString(), MEANING.getOrDefault(String.join("|", g.flags()), ""));
            if (f.allowsFreeOptions() && f.verb().equals("vm.create"))
                out.putIfAbsent("k=v…", "the VM type's own options:");
        }
        return out;
    }

    /** Lines of at most {@link #WIDTH} columns; a continuation starts at column {@code indent}. */
    static List<String> wrap(String line, int indent) {
        List<String> out = new ArrayList<>();
        String rest = line;
        while (rest.length() > WIDTH) {
            int cut = rest.lastIndexOf(' ', WIDTH);
            if (cut <= indent)
                break;
            out.add(rest.substring(0, cut));
            rest = " ".repeat(indent) + rest.substring(cut + 1);
        }
        out.add(rest);
        return out;
    }

    private List<String> typeOptions() {
        List<String> out = new ArrayList<>();
        typeOptions.forEach((type, options) -> {
            if (options.isEmpty())
                out.add(String.format("    %-14s (none)", type));
            for (int i = 0; i < options.size(); i++) {
                VmOption o = options.get(i);
                out.add(String.format("    %-14s %-22s %s", i == 0 ? type : "", o.key() + "=" + o.values(),
                        o.summary()));
            }
        });
        return out;
    }
}
