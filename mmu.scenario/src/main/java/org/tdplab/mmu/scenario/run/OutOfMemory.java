package org.tdplab.mmu.scenario.run;

import java.util.List;

import org.tdplab.mmu.scenario.io.Units;
import org.tdplab.mmu.scenario.lang.Statement;

/**
 * The Java heap ran out while a file ran: the file fails with {@code ENOMEM} at the statement that was running,
 * naming the heap's size and how to raise it, its VMs are torn down to give the memory back, and the run goes on
 * with the next file.
 */
final class OutOfMemory {
    private OutOfMemory() {
    }

    static Failure failure(String file, Statement last, String consequence) {
        long max = Runtime.getRuntime().maxMemory();
        String heap = max == Long.MAX_VALUE ? "" : " (" + Units.bytes(max) + ")";
        return new Failure(file, last == null ? 1 : last.line(), "the statement to succeed or fail with an errno",
                "ENOMEM: the Java heap" + heap + " is exhausted; give it more with TDPLAB_JAVA_OPTS=-Xmx… (e.g. "
                        + "TDPLAB_JAVA_OPTS=-Xmx16g ./tdplab run …) or make the guest smaller",
                last == null ? List.of(consequence) : List.of(last.source().strip(), consequence));
    }

    /** Tears a VM down after the heap ran out; what cannot be torn down is dropped for the collector. */
    static void destroy(ScenarioVm v) {
        try {
            v.vm.destroy();
        } catch (RuntimeException | OutOfMemoryError e) {
            // nothing more can be done for this VM; its tables are garbage once the file's objects are
        }
        v.destroyed(true);
    }
}
