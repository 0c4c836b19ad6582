package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.scenario.trace.Operation;

/**
 * The private ranges of each VM as its operation stream sets them ({@code KVM_SET_MEMORY_ATTRIBUTES}, and the
 * VMM's side of a guest's {@code KVM_HC_MAP_GPA_RANGE}, from statements and workload threads alike), for the
 * attribute lane of {@code --html}. An operation that fails is undone, as the kernel changes nothing then.
 */
final class AttributeLanes implements MmuObserver {
    /** Per VM (the manager's name): private [start, end) ranges, disjoint and merged. */
    private final Map<String, NavigableMap<Long, Long>> lanes = new HashMap<>();
    /** Per VM: its shared GPA bit as a mask (a guest may name a shared range by its alias). */
    private final Map<String, Long> sharedMasks = new HashMap<>();
    /** Per thread: how to undo its last operation, if that changed a lane. */
    private final ThreadLocal<Runnable> undo = new ThreadLocal<>();

    @Override
    public void vmOperation(String vm, String text) {
        undo.remove();
        boolean created = text.startsWith("KVM_CREATE_VM");
        if (!created && !text.startsWith("KVM_SET_MEMORY_ATTRIBUTES") && !text.startsWith("KVM_HC_MAP_GPA_RANGE"))
            return;
        Operation op = Operation.parse(text);
        try {
            if (created)
                created(vm, op.has("shared_bit") ? 1L << op.integer("shared_bit") : 0);
            else
                set(vm, op.number("gpa") & ~sharedMasks.getOrDefault(vm, 0L), op.number("size"), op.flag("private"));
        } catch (RuntimeException e) {
            // not an operation this version writes: nothing to draw
        }
    }

    @Override
    public void vmOperationFailed(String vm, String errno) {
        Runnable u = undo.get();
        if (u != null)
            u.run();
        undo.remove();
    }

    private synchronized void created(String vm, long sharedMask) {
        lanes.remove(vm);
        sharedMasks.put(vm, sharedMask);
    }

    private synchronized void set(String vm, long gpa, long size, boolean isPrivate) {
        NavigableMap<Long, Long> lane = lanes.computeIfAbsent(vm, k -> new TreeMap<>());
        long end = gpa + size;
        // every range this may touch starts in [from, end]: the one before gpa may reach into it or adjoin it
        Long floor = lane.floorKey(gpa);
        long from = floor == null ? gpa : floor;
        Map<Long, Long> before = new TreeMap<>(lane.subMap(from, true, end, true));
        long lo = gpa, hi = end;
        List<long[]> keep = new ArrayList<>();
        for (Map.Entry<Long, Long> r : before.entrySet()) {
            long s = r.getKey(), e = r.getValue();
            if (e < gpa || s > end)
                continue;
            if (isPrivate) {
                lo = Math.min(lo, s);
                hi = Math.max(hi, e);
            } else {
                if (s < gpa)
                    keep.add(new long[] { s, gpa });
                if (e > end)
                    keep.add(new long[] { end, e });
            }
            lane.remove(s);
        }
        if (isPrivate)
            lane.put(lo, hi);
        for (long[] k : keep)
            lane.put(k[0], k[1]);
        // what it changed starts in the same window, so the window's contents undo it
        Map<Long, Long> after = new TreeMap<>(lane.subMap(from, true, end, true));
        undo.set(() -> restore(lane, after.keySet(), before));
    }

    private synchronized void restore(NavigableMap<Long, Long> lane, Iterable<Long> added, Map<Long, Long> before) {
        added.forEach(lane::remove);
        lane.putAll(before);
    }

    /** A VM's private ranges, in order. */
    synchronized List<VmPicture.Attr> of(String vm) {
        List<VmPicture.Attr> out = new ArrayList<>();
        lanes.getOrDefault(vm, new TreeMap<>()).forEach((s, e) -> out.add(new VmPicture.Attr(s, e - s, true)));
        return out;
    }
}
