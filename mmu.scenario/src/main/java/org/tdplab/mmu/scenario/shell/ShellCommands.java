package org.tdplab.mmu.scenario.shell;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Session;

/**
 * The interactive shell's commands in scope {@code mmu} ({@code ./tdplab shell}): each is a statement of the
 * scenario language run in one session whose VMs live until the shell ends. {@code mmu:vms}, {@code mmu:backends}
 * (core) and {@code mmu:run} (scenario files) come from elsewhere.
 *
 * <pre>
 * mmu:create td type=tdx vcpus=2          vm.create
 * mmu:slot td 0 gpa=0 size=8M flags=gmem   slot.add (mmu:slot delete|move|log … for the others)
 * mmu:attr td gpa=0 size=4M private        attr.set
 * mmu:access td vcpu=0 write gpa=2M        guest … (read|write|exec|convert|accept)
 * mmu:zap vm gpa=0 size=2M                 zap
 * mmu:check td                             check
 * mmu:stats td [PREFIX]                    the non-zero counters
 * mmu:dump td gpa=2M [size=16K]            each page's SPTE in every root, decoded
 * mmu:do LINE…                             any statement or expectation (tdx.finalize td, expect …, run …)
 * </pre>
 */
@Component(service = ShellCommands.class, immediate = true, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=create", "osgi.command.function=slot", "osgi.command.function=attr",
        "osgi.command.function=access", "osgi.command.function=zap", "osgi.command.function=check",
        "osgi.command.function=stats", "osgi.command.function=dump", "osgi.command.function=do" })
public class ShellCommands {
    @Reference
    VmManager manager;

    private Session session;
    /** Where answers go; the process's {@code System.out}, which Gogo routes to the calling session. */
    PrintStream out = System.out;
    /** Run before each command: the interactive shell sets up Tab for backends that came since the last one. */
    volatile Runnable beforeCommand = () -> {
    };

    public ShellCommands() {
    }

    /** For tests: a session over {@code manager}, answering on {@code out}. */
    ShellCommands(VmManager manager, PrintStream out) {
        this.manager = manager;
        this.out = out;
        activate();
    }

    @Activate
    void activate() {
        session = new Session(manager);
    }

    @Deactivate
    void deactivate() {
        session.close();
    }

    /** The session whose VMs these commands act on. */
    public Session session() {
        return session;
    }

    public void create(String... args) {
        statement("vm.create", args);
    }

    public void slot(String... args) {
        List<String> subverbs = List.of("add", "delete", "move", "log");
        if (args.length > 1 && subverbs.contains(args[1]) && !subverbs.contains(args[0])) {
            beforeCommand.run();
            out.println("usage: slot " + args[1] + " " + args[0] + " … (the sub-command comes first: help slot)");
            return;
        }
        if (args.length > 0 && subverbs.contains(args[0]))
            statement("slot." + args[0], java.util.Arrays.copyOfRange(args, 1, args.length));
        else
            statement("slot.add", args);
    }

    public void attr(String... args) {
        statement("attr.set", args);
    }

    public void access(String... args) {
        statement("guest", args);
    }

    public void zap(String... args) {
        statement("zap", args);
    }

    public void check(String... args) {
        statement("check", args);
    }

    /** Any line of the scenario language. */
    public void _do(String... args) {
        beforeCommand.run();
        if (args.length == 0) {
            out.println("usage: do STATEMENT… (any line of the scenario language; help do)");
            return;
        }
        print(Interrupts.interruptible(() -> session.execute(String.join(" ", args))));
    }

    /**
     * The VM's counters that are not zero, optionally only those whose name starts with a prefix; {@code firmware}
     * instead of a prefix: only the firmware calls (the counters the VM declares as such) and their total. A VM the
     * shell destroyed shows its final counters.
     */
    public void stats(String... args) {
        beforeCommand.run();
        if (args.length < 1 || args.length > 2) {
            out.println("usage: stats VM [PREFIX|firmware]");
            return;
        }
        Optional<Vm> v = session.anyVm(args[0]);
        if (v.isEmpty()) {
            find(args[0]);
            return;
        }
        String p = args.length > 1 ? args[1] : "";
        Map<String, Long> stats;
        java.util.Set<String> calls;
        try { // a suspended VM has no backend to count with: say so, as every other command does
            stats = v.get().stats();
            calls = p.equals("firmware") ? v.get().firmwareCalls() : java.util.Set.of();
        } catch (MmuException e) {
            out.println(session.display(e.getMessage()));
            return;
        }
        if (p.equals("firmware")) {
            long total = 0;
            for (Map.Entry<String, Long> e : new TreeMap<>(stats).entrySet())
                if (calls.contains(e.getKey()) && e.getValue() != 0) {
                    out.printf("%-28s %d%n", e.getKey(), e.getValue());
                    total += e.getValue();
                }
            out.printf("%-28s %d%n", "firmware calls", total);
            return;
        }
        int[] shown = { 0 };
        new TreeMap<>(stats).forEach((k, n) -> {
            if (n != 0 && k.startsWith(p)) {
                out.printf("%-28s %d%n", k, n);
                shown[0]++;
            }
        });
        if (shown[0] == 0)
            out.println(p.isEmpty() ? "every counter of " + args[0] + " is 0"
                    : "no counter of " + args[0] + " whose name starts with '" + p + "' is other than 0");
    }

    public void dump(String... args) {
        beforeCommand.run();
        if (args.length < 2) {
            out.println("usage: dump VM gpa=A [size=S]");
            return;
        }
        Optional<Vm> v = find(args[0]);
        if (v.isEmpty())
            return;
        try {
            print(Dump.lines(v.get(), Dump.range(java.util.Arrays.copyOfRange(args, 1, args.length))));
        } catch (MmuException e) {
            out.println(session.display(e.getMessage()));
        }
    }

    private Optional<Vm> find(String vm) {
        Optional<Vm> v = session.vm(vm);
        if (v.isEmpty())
            out.println("no VM '" + vm + "' in this shell (create one with: create NAME type=T)");
        return v;
    }

    private void statement(String verb, String... args) {
        beforeCommand.run();
        print(Interrupts.interruptible(() -> session.execute(verb + " " + String.join(" ", args))));
    }

    private void print(List<String> lines) {
        lines.forEach(out::println);
    }

    static Map<String, String> options(String... args) {
        Map<String, String> m = new TreeMap<>();
        for (String a : args) {
            int eq = a.indexOf('=');
            if (eq > 0)
                m.put(a.substring(0, eq), a.substring(eq + 1));
        }
        return m;
    }
}
