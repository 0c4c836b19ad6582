package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.scenario.replay.SpteChange;

/**
 * What {@code --html} shows when a region is clicked: each region's SPTE changes (those that change what the SPTE
 * is, not its A/D bits) and firmware calls over time, with the statement line that made them. Bounded whatever the
 * run: per VM at most {@link #REGIONS} regions (an entry's GFN and level) are followed, the first that changed;
 * each keeps its first {@link #FIRST} and last {@link #LAST} events and counts the rest. Firmware calls are also
 * counted per name and status for the firmware chart.
 */
public final class RegionHistory implements MmuObserver {
    public static final int REGIONS = 4096, FIRST = 2, LAST = 6;
    /** The key of calls that name no GFN (a VM-wide call). */
    private static final long VM_WIDE = -1;

    /** One event: an SPTE change ({@code root >= 0}; {@code from}/{@code to} are SpteChange kinds) or a call. */
    public record Event(long nanos, int line, int root, long gfn, int level, int from, int to, String call,
            String status) {
        public boolean isCall() {
            return call != null;
        }
    }

    /** A VM's history at the end of a file: kept events in time order, and what was only counted. */
    public record History(List<Event> events, long omitted, long untracked, Map<String, Map<String, Long>> calls) {
        static final History NONE = new History(List.of(), 0, 0, Map.of());
    }

    private final long t0 = System.nanoTime();
    private volatile int line;
    private final Map<String, VmLog> vms = new ConcurrentHashMap<>();

    /** The statement running from now on (its events carry the line). */
    void line(int line) {
        this.line = line;
    }

    @Override
    public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        int from = SpteChange.kind(oldSpte, level), to = SpteChange.kind(newSpte, level);
        if (from != to)
            log(vm).add(key(gfn, level), new Event(System.nanoTime() - t0, line, root.ordinal(), gfn, level, from, to,
                    null, null));
    }

    @Override
    public void firmwareCall(String vm, String name, long gfn, int level, String status) {
        int l = Math.max(1, level);
        Event e = new Event(System.nanoTime() - t0, line, -1, gfn, l, 0, 0, name, status == null ? "" : status);
        log(vm).call(gfn < 0 ? VM_WIDE : key(gfn, l), e);
    }

    /** A VM's history so far (empty for a VM that made no change). */
    History of(String vm) {
        VmLog l = vms.get(vm);
        return l == null ? History.NONE : l.snapshot();
    }

    private VmLog log(String vm) {
        return vms.computeIfAbsent(vm, k -> new VmLog());
    }

    /** An entry's GFN (aligned to its level) and level. */
    private static long key(long gfn, int level) {
        long span = 1L << (9 * (level - 1));
        return (gfn & ~(span - 1)) << 3 | (level & 7);
    }

    /**
     * A firmware status that says the call failed: not a success, nor an exit or interruption that hands control
     * elsewhere on the way to completing (a guest call that exits for the host to act, an interrupted call resumed).
     */
    public static boolean failed(String status) {
        return !status.isEmpty() && !status.equals("OK") && !status.contains("SUCCESS") && !status.contains("EXIT")
                && !status.contains("INTERRUPTED") && !status.contains("NOT_ENTERED");
    }

    private static final class VmLog {
        private final Map<Long, Region> regions = new HashMap<>();
        private final Map<String, Map<String, Long>> calls = new TreeMap<>();
        private long untracked;

        synchronized void add(long key, Event e) {
            Region r = regions.get(key);
            if (r == null) {
                if (regions.size() >= REGIONS) {
                    untracked++;
                    return;
                }
                regions.put(key, r = new Region());
            }
            r.add(e);
        }

        synchronized void call(long key, Event e) {
            calls.computeIfAbsent(e.call(), k -> new TreeMap<>()).merge(e.status(), 1L, Long::sum);
            add(key, e);
        }

        synchronized History snapshot() {
            List<Event> events = new ArrayList<>();
            long omitted = 0;
            for (Region r : regions.values())
                omitted += r.collect(events);
            events.sort(Comparator.comparingLong(Event::nanos));
            Map<String, Map<String, Long>> c = new TreeMap<>();
            calls.forEach((k, v) -> c.put(k, Map.copyOf(v)));
            return new History(events, omitted, untracked, c);
        }
    }

    /** One region's first and last events; the ones between are counted. */
    private static final class Region {
        private final Event[] first = new Event[FIRST], last = new Event[LAST];
        private long count;

        void add(Event e) {
            if (count < FIRST)
                first[(int) count] = e;
            else
                last[(int) ((count - FIRST) % LAST)] = e;
            count++;
        }

        /** Adds the kept events to {@code out}; returns how many were not kept. */
        long collect(List<Event> out) {
            for (int i = 0; i < Math.min(count, FIRST); i++)
                out.add(first[i]);
            long tail = Math.max(0, count - FIRST);
            for (int i = 0; i < Math.min(tail, LAST); i++)
                out.add(last[i]);
            return Math.max(0, tail - LAST);
        }
    }
}
