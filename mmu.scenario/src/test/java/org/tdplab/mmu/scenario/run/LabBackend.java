package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * A VM type for the runner's tests, standing in for a vendor backend: it contributes verbs, cannot take
 * memory-type zaps (so {@code zap} bugs the VM), and on request makes a page raise #VE or the checker fail.
 */
final class LabBackend implements Backend {
    /** The vector the lab's {@code trap} verb raises (a virtualization exception's). */
    static final int TRAP_VECTOR = 20;

    /** Every verb invoked, as {@code VM verb options flags}. */
    final List<String> invoked = new ArrayList<>();

    @Override
    public String vmType() {
        return "lab";
    }

    @Override
    public VmCapabilities capabilities(int gpaw, Map<String, String> options) {
        if ("on".equals(options.get("hog")))
            throw new OutOfMemoryError("Java heap space"); // outside any VM operation: the runner's own catch
        return VmCapabilities.ordinary("lab", gpaw).withMemtypeZap(false);
    }

    @Override
    public List<VerbSpec> verbs() {
        return List.of(new VerbSpec("lab.trap", List.of("gpa"), List.of("size"), List.of("loud"), "page raises #VE"),
                new VerbSpec("lab.break", List.of(), List.of(), List.of(), "the checker finds a violation"),
                new VerbSpec("lab.refuse", List.of(), List.of(), List.of(), "EBUSY"),
                new VerbSpec("lab.crash", List.of(), List.of(), List.of(), "a bug in the backend"),
                new VerbSpec("lab.hog", List.of(), List.of(), List.of(), "the Java heap runs out"));
    }

    @Override
    public VmBackend attach(VmContext vm, Map<String, String> options) {
        return new VmBackend() {
            final Set<Long> traps = ConcurrentHashMap.newKeySet();
            volatile boolean broken;

            @Override
            public void invoke(String verb, Map<String, String> opts, Set<String> flags) {
                synchronized (invoked) {
                    invoked.add(vm.name() + " " + verb + " " + opts + " " + flags);
                }
                switch (verb) {
                case "trap" -> traps.add(Long.parseLong(opts.get("gpa")) >>> 12);
                case "break" -> broken = true;
                case "refuse" -> throw new MmuException(Errno.EBUSY, "VM '%s' is busy", vm.name());
                case "hog" -> throw new OutOfMemoryError("Java heap space"); // as a real exhaustion reaches us
                default -> throw new IllegalStateException("lab backend bug in VM " + vm.name());
                }
            }

            @Override
            public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
                return traps.contains(gfn) ? Walk.exception(TRAP_VECTOR) : Walk.translated(pfn, level);
            }

            /** The lab's trap names itself as the scenarios expect it. */
            @Override
            public String exceptionName(int vector) {
                return vector == TRAP_VECTOR ? "VE" : VmBackend.super.exceptionName(vector);
            }

            @Override
            public List<String> check(MmuView view) {
                return broken ? List.of("lab: broken on purpose in VM " + vm.name()) : List.of();
            }
        };
    }
}
