package org.tdplab.cli;

import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.cli.RunCommand;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * {@code ./tdplab run …} in a plain JVM: the core and the four shipped backends wired directly (what Declarative
 * Services does in the runtime, with each backend's built-in defaults), then the same {@link RunCommand} the Gogo
 * command runs. The script takes this path when {@code load/} holds nothing (no bundle, no configuration) that
 * needs the OSGi runtime; anything there, or {@code TDPLAB_CONTAINER=1}, runs the container instead.
 */
public final class DirectRun {
    private DirectRun() {
    }

    /** The core with the shipped backends, as the runtime binds them. */
    public static VmManager manager() {
        return Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(), new TdxBackend(),
                new SnpBackend());
    }

    /** {@code run ARGS…}, as the script passes the subcommand on; the exit status is the runner's. */
    public static void main(String[] args) {
        if (args.length == 0 || !args[0].equals("run")) {
            System.err.println("tdplab: this jar runs only 'run'; ./tdplab help lists the commands");
            System.exit(2);
        }
        System.exit(RunCommand.runOutsideRuntime(manager(), java.util.Arrays.copyOfRange(args, 1, args.length)));
    }
}
