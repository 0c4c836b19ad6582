package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.scenario.lang.Level;
import org.tdplab.mmu.scenario.lang.Statement;

/**
 * {@code expect spte VM gpa=A present|absent [level=] [root=] [writable=]}: {@code present} holds when a leaf
 * with every attribute written maps the natural GPA in the root written (or in some valid root); {@code absent}
 * when no such leaf does.
 */
final class Spte {
    private final ScenarioVms vms;

    Spte(ScenarioVms vms) {
        this.vms = vms;
    }

    Optional<String> check(Statement e) {
        Optional<ScenarioVm> found = vms.find(e.vm());
        if (found.isEmpty())
            return Optional.of(vms.noVm(e.vm()));
        ScenarioVm v = found.get();
        long gpa = e.number("gpa") & ~v.sharedMask();
        List<RootKind> kinds = roots(e, v);
        List<SpteInfo> leaves = new ArrayList<>();
        List<RootKind> missing = new ArrayList<>();
        for (RootKind kind : kinds) {
            Optional<SpteInfo> info;
            try {
                info = v.vm.lookup(gpa, kind);
            } catch (MmuException x) { // a GPA beyond the guest's width: no table maps it, none can
                return e.has("present") ? Optional.of(x.errno() + ": " + vms.display(x.reason())) : Optional.empty();
            }
            if (info.isEmpty())
                missing.add(kind);
            else if (info.get().present())
                leaves.add(info.get());
        }
        boolean match = leaves.stream().anyMatch(i -> matches(e, i));
        if (match == e.has("present"))
            return Optional.empty();
        if (!leaves.isEmpty())
            return Optional.of(String.join("; ", leaves.stream().map(Spte::describe).toList()));
        if (missing.size() == kinds.size())
            return Optional.of("no valid " + names(missing) + " root");
        return Optional.of("no leaf maps it");
    }

    private static List<RootKind> roots(Statement e, ScenarioVm v) {
        Optional<String> root = e.option("root").map(r -> r.word());
        if (root.isPresent())
            return List.of(root.get().equals("mirror") ? RootKind.MIRROR : RootKind.DIRECT);
        return v.vm.capabilities().mirroredPt() ? List.of(RootKind.DIRECT, RootKind.MIRROR) : List.of(RootKind.DIRECT);
    }

    private static boolean matches(Statement e, SpteInfo i) {
        Optional<Level> level = e.optionalLevel("level");
        if (level.isPresent() && level.get().number() != i.level())
            return false;
        Optional<String> writable = e.option("writable").map(w -> w.word());
        return writable.isEmpty() || writable.get().equals("yes") == i.writable();
    }

    /** {@code a 2M leaf in the direct root (writable, pfn 0x…)}. */
    private static String describe(SpteInfo i) {
        String size = switch (i.level()) {
        case 1 -> "4K";
        case 2 -> "2M";
        case 3 -> "1G";
        default -> "level " + i.level();
        };
        return "a " + size + " leaf in the " + i.root().name().toLowerCase(java.util.Locale.ROOT) + " root ("
                + (i.writable() ? "writable" : "read-only") + ", pfn " + Text.hex(i.pfn()) + ")";
    }

    private static String names(List<RootKind> kinds) {
        return String.join(" or ", kinds.stream().map(k -> k.name().toLowerCase(java.util.Locale.ROOT)).toList());
    }
}
