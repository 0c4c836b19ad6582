package org.tdplab.mmu.scenario.cli;

import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.felix.service.command.CommandSession;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.scenario.run.Interruption;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.run.TypeOptions;
import org.tdplab.mmu.scenario.shell.Interrupts;
import org.tdplab.mmu.scenario.soak.Soak;

/**
 * {@code ./tdplab soak [--type T] [--minutes N | --vms N] [--seed S] [--threads K] [--out DIR]} (Gogo
 * {@code mmu:soak}): random multi-threaded operation sequences with the checker after each round and hot-swaps of
 * each backend under load (its bundle stopped and started again, as an update does). 0 nothing found, 1 a
 * violation (its scenario written to DIR), 2 usage.
 */
@Component(service = SoakCommand.class, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=soak",
        "mmu.command.summary=soak: random multi-threaded operations on every VM type with the checker after each round "
                + "and backend hot-swaps under load; writes a failure as a shrunk scenario: soak [--type T] "
                + "[--minutes N | --vms N] [--seed S] [--threads K] [--option KEY=VALUE]… [--no-swap] [--out DIR] "
                + "(0 none found, "
                + "1 a violation, 2 usage)" })
public class SoakCommand {
    static final String USAGE = "usage: ./tdplab soak [--type T] [--minutes N | --vms N] [--seed S] [--threads K] "
            + "[--option KEY=VALUE]… [--no-swap] [--out DIR]";

    @Reference
    VmManager manager;

    private BundleContext context;

    @Activate
    void activate(BundleContext context) {
        this.context = context;
    }

    /** The Gogo command: the exit status as its result, except at the interactive prompt. */
    public Integer soak(CommandSession session, String... args) {
        return Interactive.result(session, Interrupts.interruptible(() -> soak(System.out, System.err, args)));
    }

    int soak(PrintStream out, PrintStream err, String... args) {
        List<String> types = new ArrayList<>();
        double minutes = 1;
        int vms = 0, threads = 3;
        boolean minutesGiven = false, vmsGiven = false;
        long seed = System.nanoTime() & 0xffffffffL;
        boolean swap = true;
        Path dir = Path.of("soak-failures");
        Map<String, String> vmOptions = new TreeMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) {
                help(out);
                return Runner.OK;
            }
            if (a.equals("--no-swap")) {
                swap = false;
                continue;
            }
            if (!List.of("--type", "--minutes", "--vms", "--seed", "--threads", "--out", "--option").contains(a))
                return usage(err, "unknown argument '" + a + "'");
            if (i + 1 >= args.length)
                return usage(err, a + " needs a value");
            String v = args[++i];
            try {
                switch (a) {
                case "--type" -> types.add(v);
                case "--minutes" -> {
                    minutesGiven = true;
                    minutes = Double.parseDouble(v);
                    if (!(minutes > 0) || minutes > 100_000)
                        return usage(err, "--minutes " + v + " is not a positive number of minutes");
                }
                case "--vms" -> {
                    vmsGiven = true;
                    vms = Integer.parseInt(v);
                }
                case "--seed" -> seed = Long.parseLong(v);
                case "--threads" -> threads = Integer.parseInt(v);
                case "--option" -> {
                    int eq = v.indexOf('=');
                    if (eq <= 0 || eq == v.length() - 1)
                        return usage(err, "--option " + v + " is not KEY=VALUE");
                    vmOptions.put(v.substring(0, eq), v.substring(eq + 1));
                }
                default -> dir = Path.of(v);
                }
            } catch (NumberFormatException e) {
                return usage(err, a + " " + v + " is not a number");
            } catch (InvalidPathException e) {
                return usage(err, "--out " + v + " is not a path");
            }
        }
        if (threads < 1 || threads > 64)
            return usage(err, "--threads " + threads + " is out of range (1 to 64)");
        if (vmsGiven && vms < 1) // 0 would mean "no count": the default minutes, not what was asked
            return usage(err, "--vms " + vms + " is out of range (1 or more)");
        if (vmsGiven && minutesGiven)
            return usage(err, "--minutes and --vms both given: a soak runs for a time or for a number of VMs");
        List<String> available = manager.backends().stream().map(b -> b.vmType()).sorted().toList();
        for (String t : types)
            if (!available.contains(t))
                return usage(err, "--type " + t + ": no backend serves it; available: " + String.join(", ", available));
        if (types.isEmpty())
            types = available;
        String refused = TypeOptions.refused(manager, types, vmOptions);
        if (refused != null)
            return usage(err, refused);
        boolean progress = System.getenv("TDPLAB_STDERR_TTY") != null;
        Soak.Options options = new Soak.Options(types, vms > 0 ? 0 : (long) (minutes * 60_000), vms, seed, threads,
                dir, progress, vmOptions);
        try {
            return new Soak(manager, swap ? this::swap : null, out, err).run(options);
        } catch (InterruptedException e) {
            Interruption.take(); // no interrupt left on the thread: it writes to the terminal (see Interruption)
            err.println("tdplab soak: interrupted");
            return Runner.FAILED;
        }
    }

    /** Stops and starts the bundle serving {@code type}: its VMs suspend, and resume on the restarted service. */
    private boolean swap(String type) throws BundleException, InvalidSyntaxException {
        Collection<ServiceReference<Backend>> refs = context.getServiceReferences(Backend.class,
                "(" + Backend.VM_TYPE + "=" + type + ")");
        for (ServiceReference<Backend> ref : refs) {
            Bundle b = ref.getBundle();
            if (b == null || b.getBundleId() == context.getBundle().getBundleId())
                continue;
            b.stop(Bundle.STOP_TRANSIENT);
            b.start(Bundle.START_TRANSIENT);
            return true;
        }
        return false;
    }

    private static void help(PrintStream out) {
        out.println(USAGE);
        out.println("  Runs random operation sequences (guest accesses, conversions, accepts, prefault, zaps, unmaps,");
        out.println("  aging, attributes, punches, memslot churn, dirty logging, NX recovery) from K threads on a VM");
        out.println("  of each type, checks the invariants and the data oracle after every round, and hot-swaps the");
        out.println("  type's backend bundle (stop, start) under load. Each VM's seed is printed.");
        out.println("  --type T     only VMs of type T (repeatable; default every type)");
        out.println("  --minutes N  minutes per type (default 1; fractions allowed)");
        out.println("  --vms N      N VMs per type instead of a time");
        out.println("  --seed S     the first seed (default: from the clock)");
        out.println("  --threads K  threads per VM (default 3)");
        out.println("  --option K=V VMs of the types that have option K are created with it (repeatable), e.g.");
        out.println("               --type tdx --option dynamic_pamt=on");
        out.println("  --no-swap    no backend hot-swaps");
        out.println("  --out DIR    where a failure's scenario goes (default soak-failures)");
        out.println("  On a violation the VM's operations are run again on one thread; if that fails too it is shrunk");
        out.println("  and written as DIR/soak-TYPE-SEED.scn (./tdplab run --checked FILE reproduces it); if not, the");
        out.println("  file is the whole sequence, marked as needing the threads' interleaving. Exit 1 then, else 0.");
    }

    private static int usage(PrintStream err, String problem) {
        err.println("tdplab soak: " + problem + "; " + USAGE);
        return Runner.UNREADABLE;
    }
}
