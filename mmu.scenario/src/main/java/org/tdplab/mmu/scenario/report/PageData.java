package org.tdplab.mmu.scenario.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.scenario.replay.SpteChange;
import org.tdplab.mmu.scenario.run.RegionHistory;
import org.tdplab.mmu.scenario.run.Timeline;
import org.tdplab.mmu.scenario.run.VmPicture;

/**
 * The data the report's charts draw, as one JSON object inlined in the page (Gson's HTML-safe form, so no text can
 * close the script element). Lanes are runs {@code [lane, from, to, state]}: a root's lane states are levels (0
 * unmapped, {@link VmPicture.Region#MIXED} mixed), the attribute lane's are {@link #SHARED} and {@link #PRIVATE}.
 */
final class PageData {
    static final int SHARED = 10, PRIVATE = 11;
    /** History events written per VM at most (the page stays small; the note says how many more were kept). */
    static final int EVENTS = 20_000;
    private static final Gson GSON = new Gson();

    private final JsonArray vms = new JsonArray(), timelines = new JsonArray();

    String json() {
        JsonObject o = new JsonObject();
        o.add("vms", vms);
        o.add("timelines", timelines);
        return GSON.toJson(o);
    }

    /** Adds a VM's charts; returns its element id prefix. */
    String vm(VmPicture p) {
        String id = "vm-" + vms.size();
        JsonObject vm = new JsonObject();
        vm.addProperty("id", id);
        vm.addProperty("name", p.name());
        vm.addProperty("type", p.type());
        JsonArray lanes = new JsonArray();
        lanes.add("attributes");
        p.roots().forEach(r -> lanes.add(r + " root"));
        vm.add("lanes", lanes);
        JsonArray slots = new JsonArray();
        for (VmPicture.Slot s : p.slots())
            slots.add(slot(p, s));
        vm.add("slots", slots);
        vm.add("levels", levels(p));
        vm.add("firmware", firmware(p));
        vm.add("history", history(p));
        vms.add(vm);
        return id;
    }

    private static JsonObject slot(VmPicture p, VmPicture.Slot s) {
        JsonObject o = new JsonObject();
        o.addProperty("id", s.id());
        o.addProperty("gpa", s.gpa());
        o.addProperty("size", s.size());
        JsonArray runs = new JsonArray();
        long end = s.gpa() + s.size(), at = s.gpa();
        for (VmPicture.Attr a : p.attrs()) {
            long from = Math.max(a.gpa(), s.gpa()), to = Math.min(a.gpa() + a.size(), end);
            if (from >= to)
                continue;
            run(runs, 0, at, from, SHARED);
            run(runs, 0, from, to, a.isPrivate() ? PRIVATE : SHARED);
            at = to;
        }
        run(runs, 0, at, end, SHARED);
        for (int lane = 0; lane < p.roots().size(); lane++)
            for (VmPicture.Region g : p.regions().get(p.roots().get(lane))) {
                long from = Math.max(g.gpa(), s.gpa()), to = Math.min(g.gpa() + g.size(), end);
                run(runs, lane + 1, from, to, g.level());
            }
        o.add("runs", runs);
        return o;
    }

    private static void run(JsonArray runs, int lane, long from, long to, int state) {
        if (from >= to)
            return;
        JsonArray r = new JsonArray(4);
        r.add(lane);
        r.add(from);
        r.add(to);
        r.add(state);
        runs.add(r);
    }

    /** Present entries per level in each root, and leaves by size from the counters. */
    private static JsonObject levels(VmPicture p) {
        Map<String, Long> bars = new LinkedHashMap<>();
        for (String root : p.roots()) {
            long[] n = p.entriesPerLevel().get(root);
            for (int l = n.length - 1; l >= 1; l--)
                if (n[l] > 0 || l <= 4)
                    bars.put(root + " L" + l, n[l]);
        }
        for (String k : new String[] { "pages_4k", "pages_2m", "pages_1g" })
            if (p.counters().containsKey(k))
                bars.put(k, p.counters().get(k));
        JsonObject o = new JsonObject();
        o.add("labels", strings(bars.keySet()));
        JsonArray values = new JsonArray();
        bars.values().forEach(values::add);
        o.add("values", values);
        return o;
    }

    /**
     * Firmware calls by kind: the counters named as firmware operations, split into calls whose status says they
     * failed (drawn red) and the rest (neutral), with each status's count for the tooltip.
     */
    private static JsonObject firmware(VmPicture p) {
        JsonArray labels = new JsonArray(), ok = new JsonArray(), failed = new JsonArray(), statuses = new JsonArray();
        for (Map.Entry<String, Long> c : p.counters().entrySet()) {
            if (!p.firmwareCalls().contains(c.getKey()) || c.getValue() <= 0)
                continue;
            Map<String, Long> byStatus = p.history().calls().getOrDefault(c.getKey(), Map.of());
            long bad = byStatus.entrySet().stream().filter(e -> RegionHistory.failed(e.getKey()))
                    .mapToLong(Map.Entry::getValue).sum();
            labels.add(c.getKey());
            ok.add(Math.max(0, c.getValue() - bad));
            failed.add(bad);
            List<String> words = new ArrayList<>();
            byStatus.forEach((st, n) -> words.add((st.isEmpty() ? "(no status)" : st) + " × " + n));
            statuses.add(String.join(", ", words));
        }
        JsonObject o = new JsonObject();
        o.add("labels", labels);
        o.add("ok", ok);
        o.add("failed", failed);
        o.add("statuses", statuses);
        return o;
    }

    /** The events of each region: {@code [ms, line, root, gfn, level, what, failed]} with {@code what} as text. */
    private static JsonObject history(VmPicture p) {
        RegionHistory.History h = p.history();
        long gfnMask = ~(p.sharedMask() >>> 12);
        JsonArray events = new JsonArray();
        List<String> roots = new ArrayList<>();
        for (RootKind k : RootKind.values())
            roots.add(k.name().toLowerCase(Locale.ROOT));
        int n = 0;
        for (RegionHistory.Event e : h.events()) {
            if (n++ >= EVENTS)
                break;
            JsonArray a = new JsonArray(7);
            a.add(Math.round(e.nanos() / 1e3) / 1e3);
            a.add(e.line());
            a.add(e.isCall() ? "" : roots.get(e.root()));
            a.add(e.gfn() < 0 ? -1 : e.gfn() & gfnMask);
            a.add(e.level());
            a.add(e.isCall() ? e.call() + (e.status().isEmpty() ? "" : ": " + e.status())
                    : SpteChange.name(e.from()) + " → " + SpteChange.name(e.to()));
            a.add(e.isCall() && RegionHistory.failed(e.status()) ? 1 : 0);
            events.add(a);
        }
        JsonObject o = new JsonObject();
        o.add("events", events);
        return o;
    }

    /** What the page leaves out of a VM's picture and history, in words. */
    static List<String> notes(VmPicture p) {
        RegionHistory.History h = p.history();
        List<String> notes = new ArrayList<>(p.notes());
        if (h.events().size() > EVENTS)
            notes.add(String.format(Locale.ROOT, "history: the first %,d of %,d kept events are in the page", EVENTS,
                    h.events().size()));
        if (h.omitted() > 0)
            notes.add(String.format(Locale.ROOT, "history: each region keeps its first %d and last %d events; %,d "
                    + "between them are counted, not kept", RegionHistory.FIRST, RegionHistory.LAST, h.omitted()));
        return notes;
    }

    /** Adds a workload's timeline; returns its element id. */
    String timeline(Timeline t) {
        String id = "tl-" + timelines.size();
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("binMs", t.binNanos() / 1e6);
        JsonArray f = new JsonArray(), z = new JsonArray();
        for (long v : t.faults())
            f.add(v);
        for (long v : t.zaps())
            z.add(v);
        o.add("faults", f);
        o.add("zaps", z);
        timelines.add(o);
        return id;
    }

    private static JsonArray strings(Iterable<String> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }
}
