package org.tdplab.mmu.scenario.run;

import java.util.List;

import org.tdplab.mmu.scenario.lang.Statement;

/**
 * The Java heap ran out while a file ran, outside any VM operation (inside one the core answers {@code ENOMEM} itself
 * and the statement fails like any other): the file fails with {@code ENOMEM} at the statement that was running,
 * naming the heap's size and how to raise it, its VMs are torn down to give the memory back, and the run goes on
 * with the next file.
 */
final class OutOfMemory {
    private OutOfMemory() {
    }

    /** The failure, in the words the core uses for an operation that ran out of heap. */
    static Failure failure(String file, Statement last, String consequence) {
        return new Failure(file, last == null ? 1 : last.line(), "the statement to succeed or fail with an errno",
                String.format(java.util.Locale.ROOT, "ENOMEM: the Java heap (%d MiB) is exhausted: raise it with -Xmx, "
                        + "e.g. TDPLAB_JAVA_OPTS=-Xmx20g ./tdplab run …", Runtime.getRuntime().maxMemory() >> 20),
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
