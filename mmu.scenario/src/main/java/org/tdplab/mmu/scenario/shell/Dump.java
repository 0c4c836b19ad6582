package org.tdplab.mmu.scenario.shell;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
        long[] r;
        try {
            r = new long[] { Numbers.parse(o.get("gpa")) & ~(PAGE - 1), Numbers.parse(o.getOrDefault("size", "4K")) };
        } catch (RuntimeException e) {
            throw new MmuException(Errno.EINVAL, "mmu:dump: gpa and size are numbers (0x1000, 2M, …)");
        }
        if (r[1] <= 0)
            throw new MmuException(Errno.EINVAL, "mmu:dump: size=%s must be positive", o.get("size"));
        return r;
    }

    static List<String> lines(Vm vm, long[] range) {
        List<String> out = new ArrayList<>();
        List<RootKind> roots = vm.capabilities().mirroredPt() ? List.of(RootKind.DIRECT, RootKind.MIRROR)
                : List.of(RootKind.DIRECT);
        for (RootKind root : roots) {
            String name = root.name().toLowerCase(java.util.Locale.ROOT);
            long gpa = range[0], end = range[0] + range[1];
            while (gpa < end && out.size() < MAX_LINES) {
                List<SpteInfo> walk;
                try {
                    walk = vm.walk(gpa, root);
                } catch (MmuException e) { // past the guest's width: what was walked stays shown
                    if (out.isEmpty())
                        throw e;
                    out.add("… stopped at gpa 0x" + Long.toHexString(gpa) + ": " + e.getMessage());
                    break;
                }
                if (walk.isEmpty()) {
                    out.add(name + " root: none");
                    break;
                }
                out.add(String.format("gpa 0x%x, %s root:", gpa, name));
                for (SpteInfo i : walk)
                    out.add("  " + describe(i));
                SpteInfo last = walk.get(walk.size() - 1);
                // a leaf or a hole covers its level's whole span: the next walk starts after it
                long span = last.leaf() || !last.present() ? levelBytes(last.level()) : PAGE;
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

    /** {@code L1 spte 0x…: leaf 4K pfn 0x… R W X memtype 6 A D host-writable mmu-writable}. */
    static String describe(SpteInfo i) {
        long v = i.spte();
        StringBuilder sb = new StringBuilder(String.format("L%d spte 0x%016x: ", i.level(), v));
        if (!i.present())
            return sb.append("not present").toString();
        sb.append(i.leaf() ? "leaf " + size(i.level()) : "table").append(String.format(" pfn 0x%x", i.pfn()));
        bit(sb, v, 0, "R");
        bit(sb, v, 1, "W");
        bit(sb, v, 2, "X");
        if (i.leaf())
            sb.append(" memtype ").append((v >>> 3) & 7);
        bit(sb, v, 8, "A");
        bit(sb, v, 9, "D");
        bit(sb, v, 57, "host-writable");
        bit(sb, v, 58, "mmu-writable");
        bit(sb, v, 63, "suppress-ve");
        return sb.toString();
    }

    private static void bit(StringBuilder sb, long v, int bit, String name) {
        if ((v >>> bit & 1) != 0)
            sb.append(' ').append(name);
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
