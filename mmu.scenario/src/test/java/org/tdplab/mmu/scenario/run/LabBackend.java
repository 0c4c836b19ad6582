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
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbOption;
import org.tdplab.mmu.api.backend.VerbResult;
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
    public VmCapabilities capabilities(int gpaw, org.tdplab.mmu.api.backend.VerbArgs options) {
        if (options.bool("hog", false))
            throw new OutOfMemoryError("Java heap space"); // outside any VM operation: the runner's own catch
        return VmCapabilities.ordinary("lab", gpaw).withMemtypeZap(false);
    }

    @Override
    public List<org.tdplab.mmu.api.backend.VmOption> options() {
        return List.of(org.tdplab.mmu.api.backend.VmOption.of("hog", VerbOption.Type.BOOLEAN,
                "on: the backend runs out of Java heap while creating the VM"));
    }

    /** The lab's trap, by a name of its own: {@code expect exception LAB_TRAP} takes it because it is declared. */
    @Override
    public Map<Integer, String> exceptions() {
        return Map.of(TRAP_VECTOR, "LAB_TRAP");
    }

    @Override
    public List<VerbSpec> verbs() {
        return List.of(new VerbSpec("lab.trap", List.of(VerbOption.required("gpa", VerbOption.Type.GPA),
                VerbOption.optional("size", VerbOption.Type.SIZE)), List.of("loud"), "page raises #VE"),
                new VerbSpec("lab.count", List.of(VerbOption.optional("level", VerbOption.Type.LEVEL).of("4K", "2M"),
                        VerbOption.optional("twice", VerbOption.Type.BOOLEAN),
                        VerbOption.optional("mode", VerbOption.Type.CHOICE).of("traps", "none")), List.of(),
                        "the result is the number of traps (level=2M: per 2M, twice=on: doubled, mode=none: 0)"),
                new VerbSpec("lab.fill", List.of(VerbOption.required("gpa", VerbOption.Type.GPA),
                        VerbOption.required("size", VerbOption.Type.SIZE)), List.of(),
                        "does the first 4K of the range and hands the rest back"),
                new VerbSpec("lab.break", List.of(), List.of(), "the checker finds a violation"),
                new VerbSpec("lab.refuse", List.of(), List.of(), "EBUSY"),
                new VerbSpec("lab.crash", List.of(), List.of(), "a bug in the backend"),
                new VerbSpec("lab.hog", List.of(), List.of(), "the Java heap runs out"));
    }

    @Override
    public VmBackend attach(VmContext vm, org.tdplab.mmu.api.backend.VerbArgs options) {
        return new VmBackend() {
            final Set<Long> traps = ConcurrentHashMap.newKeySet();
            volatile boolean broken;

            @Override
            public VerbResult invoke(String verb, VerbArgs args) {
                synchronized (invoked) {
                    invoked.add(vm.name() + " " + verb + " " + args.values() + " " + new java.util.TreeSet<>(args.flags()));
                }
                switch (verb) {
                case "trap" -> traps.add(args.number("gpa") >>> 12);
                case "count" -> {
                    long n = args.word("mode", "traps").equals("none") ? 0
                            : args.level("level", 1) == 2 ? traps.stream().map(g -> g >>> 9).distinct().count()
                            : traps.size();
                    return VerbResult.count(args.bool("twice", false) ? 2 * n : n);
                }
                case "fill" -> {
                    long gpa = args.number("gpa"), size = args.number("size");
                    if (size <= 4096)
                        return VerbResult.handedBack(gpa + size, 0);
                    return VerbResult.handedBack(gpa + 4096, size - 4096);
                }
                case "break" -> broken = true;
                case "refuse" -> throw new MmuException(Errno.EBUSY, "VM '%s' is busy", vm.name());
                case "hog" -> throw new OutOfMemoryError("Java heap space"); // as a real exhaustion reaches us
                default -> throw new IllegalStateException("lab backend bug in VM " + vm.name());
                }
                return VerbResult.NONE;
            }

            @Override
            public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
                return traps.contains(gfn) ? Walk.exception(TRAP_VECTOR) : Walk.translated(pfn, level);
            }

            @Override
            public List<String> check(MmuView view) {
                return broken ? List.of("lab: broken on purpose in VM " + vm.name()) : List.of();
            }
        };
    }
}
