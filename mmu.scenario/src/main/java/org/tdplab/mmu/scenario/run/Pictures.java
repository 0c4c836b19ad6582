package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.Vm;

/** Takes the pictures of {@code --html}: a VM's GPA space by sampled lookups, and a workload's timeline. */
final class Pictures {
    static final int BINS = 120;
    private static final long NONPRESENT = 0x8000000000000000L;

    private Pictures() {
    }

    static VmPicture of(ScenarioVm v, List<VmPicture.Attr> attrs) {
        Vm vm = v.vm;
        List<VmPicture.Slot> slots = new ArrayList<>();
        v.slots().entrySet().stream().limit(VmPicture.MAX_SLOTS)
                .forEach(e -> slots.add(new VmPicture.Slot(e.getKey(), e.getValue()[0], e.getValue()[1])));
        slots.sort((a, b) -> Long.compare(a.gpa(), b.gpa()));
        List<String> roots = new ArrayList<>();
        Map<String, List<VmPicture.Region>> regions = new LinkedHashMap<>();
        Map<String, long[]> entries = new LinkedHashMap<>();
        for (RootKind root : RootKind.values()) {
            if (root == RootKind.MIRROR && !vm.capabilities().mirroredPt())
                continue;
            List<VmPicture.Region> list = new ArrayList<>();
            long[] perLevel = new long[6];
            List<Set<Long>> seen = new ArrayList<>();
            for (int i = 0; i < 6; i++)
                seen.add(new HashSet<>());
            for (VmPicture.Slot s : slots) {
                long step = step(s.size());
                for (long gpa = s.gpa(); gpa < s.gpa() + s.size(); gpa += step) {
                    List<SpteInfo> walk = vm.walk(gpa, root);
                    int level = 0;
                    for (SpteInfo i : walk) {
                        if (!i.present())
                            break;
                        if (i.level() >= 1 && i.level() <= 5 && seen.get(i.level()).add(i.gfn() >>> (9 * (i.level() - 1))))
                            perLevel[i.level()]++;
                        if (i.leaf())
                            level = i.level();
                    }
                    long size = Math.min(step, s.gpa() + s.size() - gpa);
                    VmPicture.Region last = list.isEmpty() ? null : list.get(list.size() - 1);
                    if (last != null && last.level() == level && last.gpa() + last.size() == gpa)
                        list.set(list.size() - 1, new VmPicture.Region(last.gpa(), last.size() + size, level));
                    else
                        list.add(new VmPicture.Region(gpa, size, level));
                }
            }
            String name = root.name().toLowerCase();
            roots.add(name);
            regions.put(name, list);
            entries.put(name, perLevel);
        }
        return new VmPicture(v.name, vm.type(), slots, attrs, roots, regions, entries, new TreeMap<>(vm.stats()));
    }

    /** The sampling step for a memslot: a power of two, at least 4K, at most {@link VmPicture#SAMPLES} samples. */
    static long step(long size) {
        long step = 4096;
        while (size / step > VmPicture.SAMPLES)
            step <<= 1;
        return step;
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
            long t = System.nanoTime() - t0;
            while (t / binNanos >= BINS) {
                fold(faults);
                fold(zaps);
                binNanos *= 2;
            }
            counts[(int) (t / binNanos)]++;
        }

        private static void fold(long[] a) {
            for (int i = 0; i < BINS / 2; i++)
                a[i] = a[2 * i] + a[2 * i + 1];
            java.util.Arrays.fill(a, BINS / 2, BINS, 0);
        }

        synchronized Timeline timeline(int line, String source, String name) {
            long t = System.nanoTime() - t0;
            while (t / binNanos >= BINS) {
                fold(faults);
                fold(zaps);
                binNanos *= 2;
            }
            int used = (int) Math.min(BINS, t / binNanos + 1);
            return new Timeline(line, source, name, binNanos, java.util.Arrays.copyOf(faults, used),
                    java.util.Arrays.copyOf(zaps, used));
        }
    }
}
