package org.tdplab.concurrency;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * One small model per controlled test: a core with every shipped backend, VMs, threads that run the model's
 * operations, and the verdict — the invariant checker and the data oracle ({@link Vm#check()}).
 */
final class Lab {
    static final long K4 = 0x1000, M2 = 2L << 20;

    final DefaultVmBackend defaultBackend = new DefaultVmBackend();
    final VmManager manager = Standalone.vmManager(defaultBackend, new SwProtectedVmBackend(), new TdxBackend(),
            new SnpBackend());

    Vm vm(String type, int vcpus, Map<String, String> options) {
        return manager.create("vm", type, vcpus, 48, options);
    }

    static void slot(Vm vm, int id, long gpa, long size, PageSize backing, SlotFlag... flags) {
        vm.addMemslot(id, gpa, size, flags.length == 0 ? Set.of() : Set.of(flags), backing);
    }

    /** An operation a thread runs; a refusal (an errno) is part of the game and leaves the model consistent. */
    interface Op {
        void run() throws Exception;
    }

    /** Runs each op on its own thread and waits for all; the first failure is rethrown. */
    static void parallel(Op... ops) throws Exception {
        List<Thread> threads = new ArrayList<>();
        Throwable[] failure = new Throwable[1];
        for (Op op : ops) {
            threads.add(new Thread(() -> {
                try {
                    op.run();
                } catch (MmuException refused) {
                    // an errno: the operation was refused, as KVM would
                } catch (Throwable t) {
                    synchronized (failure) {
                        if (failure[0] == null)
                            failure[0] = t;
                    }
                }
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads)
            t.join();
        if (failure[0] instanceof Exception e)
            throw e;
        if (failure[0] instanceof Error e)
            throw e;
    }

    /** Fails with {@code what} unless {@code ok} (an assertion Fray reports as the test's failure). */
    static void expect(boolean ok, String what) {
        if (!ok)
            throw new AssertionError(what);
    }

    /** The verdict: every invariant and the data oracle hold. */
    static void assertConsistent(Vm vm) {
        CheckReport report = vm.check();
        if (!report.ok())
            throw new AssertionError("invariants broken:\n  " + String.join("\n  ", report.violations()));
    }
}
