package org.tdplab.mmu.scenario.shell;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.scenario.lang.Numbers;

/**
 * {@code mmu:dump VM gpa=A [size=S]}: for each page of the range, in every root, the entry that maps it (the leaf,
 * or the deepest present table entry), with its level and its bits decoded. A leaf larger than 4K is shown once.
 */
final class Dump {
    static final long PAGE = 4096;
    /** Lines at most per dump, so a huge range does not flood the terminal. */
    static final int MAX_LINES = 512;

    private Dump() {
    }

    /** {@code {gpa, size}} from {@code gpa=A [size=S]} (size 4K by default). */
    static long[] range(String... args) {
        Map<String, String> o = ShellCommands.options(args);
        if (!o.containsKey("gpa"))
            throw new MmuException(Errno.EINVAL, "usage: mmu:dump VM gpa=A [size=S]");
        try {
            return new long[] { Numbers.parse(o.get("gpa")) & ~(PAGE - 1), Numbers.parse(o.getOrDefault("size", "4K")) };
        } catch (RuntimeException e) {
            throw new MmuException(Errno.EINVAL, "mmu:dump: gpa and size are numbers (0x1000, 2M, …)");
        }
    }

    static List<String> lines(Vm vm, long[] range) {
        List<String> out = new ArrayList<>();
        List<RootKind> roots = vm.capabilities().mirroredPt() ? List.of(RootKind.DIRECT, RootKind.MIRROR)
                : List.of(RootKind.DIRECT);
        for (RootKind root : roots) {
            out.add(root.name().toLowerCase(java.util.Locale.ROOT) + " root:");
            long gpa = range[0], end = range[0] + range[1];
            while (gpa < end && out.size() < MAX_LINES) {
                Optional<SpteInfo> i = vm.lookup(gpa, root);
                if (i.isEmpty()) {
                    out.add("  no valid root");
                    break;
                }
                out.add("  " + describe(gpa, i.get()));
                long span = i.get().leaf() && i.get().present() ? levelBytes(i.get().level()) : PAGE;
                gpa = (gpa & ~(span - 1)) + span;
            }
        }
        if (out.size() >= MAX_LINES)
            out.add("… (stopped after " + MAX_LINES + " lines)");
        return out;
    }

    static long levelBytes(int level) {
        return PAGE << (9 * (level - 1));
    }

    /** {@code gpa 0x200000 L1 spte 0x…: present leaf 4K W pfn 0x… [A D]}. */
    static String describe(long gpa, SpteInfo i) {
        StringBuilder sb = new StringBuilder(String.format("gpa 0x%x L%d spte 0x%016x: ", gpa, i.level(), i.spte()));
        if (!i.present())
            return sb.append("not present").toString();
        sb.append(i.leaf() ? "leaf " + size(i.level()) : "table (no leaf below)");
        sb.append(i.writable() ? " writable" : " read-only");
        sb.append(String.format(" pfn 0x%x", i.pfn()));
        return sb.toString();
    }

    private static String size(int level) {
        return switch (level) {
        case 1 -> "4K";
        case 2 -> "2M";
        case 3 -> "1G";
        default -> "L" + level;
        };
    }
}
