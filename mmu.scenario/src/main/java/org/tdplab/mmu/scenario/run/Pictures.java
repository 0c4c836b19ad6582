package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.scenario.io.Units;

/**
 * Takes the pictures of {@code --html}: a VM's GPA space as the exact runs of each root's mappings, and a workload's
 * timeline. A walk finds the deepest entry of a GPA and the run skips the whole range that entry covers (a leaf, or
 * a non-present entry at any level), so the cost grows with the leaves mapped, not with the GPA space; past
 * {@link #WALKS} walks per VM the rest of each lane is sampled, and a note says from where.
 */
final class Pictures {
    static final int BINS = 120;
    /** Walks per VM before the lanes are sampled instead (a 16 GiB guest mapped at 4K takes 4M). */
    static final long WALKS = 1L << 23;
    private static final long NONPRESENT = 0x8000000000000000L;

    private Pictures() {
    }

    static VmPicture of(ScenarioVm v, List<VmPicture.Attr> attrs, RegionHistory.History history) {
        Vm vm = v.vm;
        List<VmPicture.Slot> slots = new ArrayList<>();
        v.slots().entrySet().stream().limit(VmPicture.MAX_SLOTS)
                .forEach(e -> slots.add(new VmPicture.Slot(e.getKey(), e.getValue()[0], e.getValue()[1])));
        slots.sort((a, b) -> Long.compare(a.gpa(), b.gpa()));
        List<String> notes = new ArrayList<>();
        if (v.slots().size() > VmPicture.MAX_SLOTS)
            notes.add("only the first " + VmPicture.MAX_SLOTS + " of " + v.slots().size() + " memslots are drawn");
        List<String> roots = new ArrayList<>();
        Map<String, List<VmPicture.Region>> regions = new LinkedHashMap<>();
        Map<String, long[]> entries = new LinkedHashMap<>();
        List<RootKind> kinds = new ArrayList<>();
        for (RootKind root : RootKind.values())
            if (root != RootKind.MIRROR || vm.capabilities().mirroredPt())
                kinds.add(root);
        int cap = Math.max(256, VmPicture.RUNS / Math.max(1, kinds.size() * Math.max(1, slots.size())));
        long[] budget = { WALKS };
        for (RootKind root : kinds) {
            String name = root.name().toLowerCase(java.util.Locale.ROOT);
            Walker w = new Walker(vm, root, budget);
            List<VmPicture.Region> list = new ArrayList<>();
            for (VmPicture.Slot s : slots) {
                Runs runs = new Runs(cap);
                w.runs(s.gpa(), s.gpa() + s.size(), runs);
                list.addAll(runs.done());
                if (runs.granule() > 4096)
                    notes.add(String.format(java.util.Locale.ROOT, "%s root, slot %d: %,d runs; drawn merged to %s "
                            + "granules (a granule of several states is drawn as mixed)", name, s.id(), runs.seen(),
                            Units.bytes(runs.granule())));
                if (w.sampledFrom >= 0) {
                    notes.add(String.format(java.util.Locale.ROOT, "%s root, slot %d: sampled from GPA 0x%x on "
                            + "(the %,d walks a picture may take ran out)", name, s.id(), w.sampledFrom, WALKS));
                    w.sampledFrom = -1;
                }
            }
            roots.add(name);
            regions.put(name, list);
            entries.put(name, w.perLevel);
        }
        if (history.untracked() > 0)
            notes.add(String.format(java.util.Locale.ROOT, "history: %,d events of regions past the first %,d are "
                    + "counted, not kept", history.untracked(), RegionHistory.REGIONS));
        return new VmPicture(v.name, vm.type(), v.sharedMask(), slots, attrs, roots, regions, entries,
                new TreeMap<>(vm.stats()), vm.firmwareCalls(), history, notes);
    }

    /** Walks one root of a VM, run by run. */
    private static final class Walker {
        final Vm vm;
        final RootKind root;
        final long[] budget;
        final long[] perLevel = new long[6];
        /** The index of the last entry counted per level: walks go up the GPA space, so a new index is a new entry. */
        private final long[] last = { -1, -1, -1, -1, -1, -1 };
        long sampledFrom = -1;

        Walker(Vm vm, RootKind root, long[] budget) {
            this.vm = vm;
            this.root = root;
            this.budget = budget;
        }

        void runs(long from, long to, Runs out) {
            long gpa = from;
            while (gpa < to) {
                long step = 0;
                if (budget[0]-- <= 0) {
                    if (sampledFrom < 0)
                        sampledFrom = gpa;
                    step = sampleStep(to - gpa);
                }
                List<SpteInfo> walk = vm.walk(gpa, root);
                int level = 0, deepest = walk.isEmpty() ? 5 : walk.get(walk.size() - 1).level();
                for (SpteInfo i : walk) {
                    if (!i.present())
                        break;
                    long index = i.gfn() >>> (9 * (i.level() - 1));
                    if (i.level() >= 1 && i.level() <= 5 && last[i.level()] != index) {
                        last[i.level()] = index;
                        perLevel[i.level()]++;
                    }
                    if (i.leaf())
                        level = i.level();
                }
                long span = 4096L << (9 * (deepest - 1));
                long end = step > 0 ? gpa + step : (gpa & ~(span - 1)) + span;
                end = Math.min(to, end);
                out.add(gpa, end, level);
                gpa = end;
            }
        }

        /** A power of two of at least 4K that takes at most 4096 more samples. */
        private static long sampleStep(long left) {
            long step = 4096;
            while (left / step > 4096)
                step <<= 1;
            return step;
        }
    }

    /**
     * The runs of one lane, at most {@code cap}: when there are more, runs are merged into granules of a power of two
     * (doubling until they fit), a granule of several states becoming {@link VmPicture.Region#MIXED}.
     */
    static final class Runs {
        private final int cap;
        private List<VmPicture.Region> runs = new ArrayList<>();
        private long granule = 4096, seen, lastEnd = -1;
        private int lastLevel;

        Runs(int cap) {
            this.cap = cap;
        }

        void add(long from, long to, int level) {
            if (from != lastEnd || level != lastLevel)
                seen++;
            lastEnd = to;
            lastLevel = level;
            append(runs, from, to, level);
            if (runs.size() > 2 * cap)
                fit();
        }

        List<VmPicture.Region> done() {
            if (runs.size() > cap)
                fit();
            return runs;
        }

        long granule() {
            return granule;
        }

        /** Runs before any merging (adjacent equal ones counted once). */
        long seen() {
            return seen;
        }

        /** Merges at the present granule; doubles it while that is not enough. */
        private void fit() {
            if (granule > 4096)
                runs = quantize(runs, granule);
            while (runs.size() > cap) {
                granule <<= 1;
                runs = quantize(runs, granule);
            }
        }

        private static void append(List<VmPicture.Region> runs, long from, long to, int level) {
            if (from >= to)
                return;
            VmPicture.Region last = runs.isEmpty() ? null : runs.get(runs.size() - 1);
            if (last != null && last.level() == level && last.gpa() + last.size() == from)
                runs.set(runs.size() - 1, new VmPicture.Region(last.gpa(), to - last.gpa(), level));
            else
                runs.add(new VmPicture.Region(from, to - from, level));
        }

        /** The runs over granules of {@code g}: a granule covered by one state keeps it, else it is mixed. */
        static List<VmPicture.Region> quantize(List<VmPicture.Region> in, long g) {
            List<VmPicture.Region> out = new ArrayList<>();
            long bucket = -1, bucketFrom = 0, bucketTo = 0;
            int bucketLevel = 0;
            for (VmPicture.Region r : in) {
                long a = r.gpa(), b = r.gpa() + r.size();
                while (a < b) {
                    long start = a & -g, end = Math.min(b, start + g);
                    if (a == start && b - a >= g) { // whole granules
                        if (bucket >= 0) {
                            append(out, bucketFrom, bucketTo, bucketLevel);
                            bucket = -1;
                        }
                        long whole = (b - a) & -g;
                        append(out, a, a + whole, r.level());
                        a += whole;
                        continue;
                    }
                    if (bucket == start) {
                        if (bucketLevel != r.level())
                            bucketLevel = VmPicture.Region.MIXED;
                        bucketTo = end;
                    } else {
                        if (bucket >= 0)
                            append(out, bucketFrom, bucketTo, bucketLevel);
                        bucket = start;
                        bucketFrom = a;
                        bucketTo = end;
                        bucketLevel = r.level();
                    }
                    a = end;
                }
            }
            if (bucket >= 0)
                append(out, bucketFrom, bucketTo, bucketLevel);
            return out;
        }
    }

    /** Counts one VM's faults and zaps in time bins while a workload runs. */
    static final class Recorder implements MmuObserver {
        private final String vm;
        private final long t0 = System.nanoTime();
        private long binNanos = 100_000;
        private final long[] faults = new long[BINS], zaps = new long[BINS];

        Recorder(String vm) {
            this.vm = vm;
        }

        @Override
        public void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
            if (this.vm.equals(vm))
                add(faults);
        }

        @Override
        public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long oldSpte, long newSpte) {
            if (this.vm.equals(vm) && present(oldSpte) && !present(newSpte) && (newSpte == NONPRESENT || newSpte == 0))
                add(zaps);
        }

        private static boolean present(long spte) {
            return spte != 0 && spte != NONPRESENT;
        }

        private synchronized void add(long[] counts) {
            counts[(int) (elapsed() / binNanos)]++;
        }

        /** Nanoseconds since the start; the bins are widened first (their counts folded in pairs) until it fits. */
        private long elapsed() {
            long t = System.nanoTime() - t0;
            while (t / binNanos >= BINS) {
                fold(faults);
                fold(zaps);
                binNanos *= 2;
            }
            return t;
        }

        private static void fold(long[] a) {
            for (int i = 0; i < BINS / 2; i++)
                a[i] = a[2 * i] + a[2 * i + 1];
            java.util.Arrays.fill(a, BINS / 2, BINS, 0);
        }

        synchronized Timeline timeline(int line, String source, String name) {
            long t = elapsed();
            int used = (int) Math.min(BINS, t / binNanos + 1);
            return new Timeline(line, source, name, binNanos, java.util.Arrays.copyOf(faults, used),
                    java.util.Arrays.copyOf(zaps, used));
        }
    }
}
