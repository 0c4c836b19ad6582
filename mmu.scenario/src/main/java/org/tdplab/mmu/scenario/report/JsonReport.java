package org.tdplab.mmu.scenario.report;

import java.util.List;
import java.util.Map;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import org.tdplab.mmu.scenario.run.Failure;
import org.tdplab.mmu.scenario.run.FileResult;

/**
 * {@code ./tdplab run --json FILE}: the whole run as one JSON object (schema {@code tdplab-run/1}), built as a Gson
 * tree (Gson is embedded in this bundle) so that the schema stays spelled out here:
 *
 * <pre>
 * { "schema": "tdplab-run/1", "checked": bool, "status": 0|1|2, "passed": n, "failed": n,
 *   "files": [ { "file": path, "ok": bool, "seconds": s, "statements": n, "expectations": n,
 *     "steps":    [ { "line": n, "source": text, "result": "ok|error|exit|exception|violations",
 *                     "errno": name|null, "detail": text|null, "seconds": s, "output": [text…] } ],
 *     "expects":  [ { "line": n, "source": text, "held": bool, "found": text|null } ],
 *     "failures": [ { "line": n, "expected": text, "found": text, "details": [text…] } ],
 *     "vms":      [ { "name": n, "type": t, "bugged": bool, "destroyed": bool, "counters": { name: n… },
 *                     "firmware_calls": [name…],
 *                     "invariants": { "held": bool, "violations": [text…] } } ] } ],
 *   "unreadable": [text…] }
 * </pre>
 *
 * A VM the file destroyed itself is listed as it was destroyed ({@code "destroyed": true}, in the order of the
 * destroys): its final counters, as its teardown left them, and the invariant check just before its destroy. The
 * VMs left at the end of the file follow, their counters and invariant results taken before the teardown that ends
 * the file. {@code firmware_calls} names the counters that count firmware calls (the VM's declaration, whatever their
 * spelling). {@code output} holds a workload's metric lines; {@code unreadable} why nothing ran (status 2).
 */
public final class JsonReport {
    public static final String SCHEMA = "tdplab-run/1";
    /** Nulls written (the schema names {@code errno}, {@code detail} and {@code found} as {@code text|null}). */
    private static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    private JsonReport() {
    }

    public static String render(List<FileResult> results, boolean checked, int status) {
        return render(results, List.of(), checked, status);
    }

    /** The report of a run; {@code unreadable} says why nothing ran (status 2), one line each. */
    public static String render(List<FileResult> results, List<String> unreadable, boolean checked, int status) {
        JsonObject run = tree(results, checked, status);
        JsonArray why = new JsonArray();
        unreadable.forEach(why::add);
        run.add("unreadable", why);
        return GSON.toJson(run) + "\n";
    }

    static JsonObject tree(List<FileResult> results, boolean checked, int status) {
        JsonObject run = new JsonObject();
        run.addProperty("schema", SCHEMA);
        run.addProperty("checked", checked);
        run.addProperty("status", status);
        run.addProperty("passed", results.stream().filter(FileResult::ok).count());
        run.addProperty("failed", results.stream().filter(r -> !r.ok()).count());
        JsonArray files = new JsonArray();
        results.forEach(r -> files.add(file(r)));
        run.add("files", files);
        return run;
    }

    private static JsonObject file(FileResult r) {
        JsonObject f = new JsonObject();
        f.addProperty("file", r.file());
        f.addProperty("ok", r.ok());
        f.addProperty("seconds", seconds(r.nanos()));
        f.addProperty("statements", r.statements());
        f.addProperty("expectations", r.expectations());
        JsonArray steps = new JsonArray();
        for (FileResult.StepRecord s : r.steps()) {
            JsonObject o = new JsonObject();
            o.addProperty("line", s.line());
            o.addProperty("source", s.source());
            o.addProperty("result", s.result());
            o.addProperty("errno", s.errno());
            o.addProperty("detail", s.detail());
            o.addProperty("seconds", seconds(s.nanos()));
            o.add("output", strings(s.output()));
            steps.add(o);
        }
        f.add("steps", steps);
        JsonArray expects = new JsonArray();
        for (FileResult.ExpectRecord e : r.expects()) {
            JsonObject o = new JsonObject();
            o.addProperty("line", e.line());
            o.addProperty("source", e.source());
            o.addProperty("held", e.held());
            o.addProperty("found", e.found());
            expects.add(o);
        }
        f.add("expects", expects);
        JsonArray failures = new JsonArray();
        for (Failure x : r.failures()) {
            JsonObject o = new JsonObject();
            o.addProperty("line", x.line());
            o.addProperty("expected", x.expected());
            o.addProperty("found", x.found());
            o.add("details", strings(x.details()));
            failures.add(o);
        }
        f.add("failures", failures);
        JsonArray vms = new JsonArray();
        r.vms().forEach(v -> vms.add(vm(v)));
        f.add("vms", vms);
        return f;
    }

    private static JsonObject vm(FileResult.VmRecord v) {
        JsonObject o = new JsonObject();
        o.addProperty("name", v.name());
        o.addProperty("type", v.type());
        o.addProperty("bugged", v.bugged());
        o.addProperty("dead", v.dead());
        o.addProperty("destroyed", v.destroyed());
        JsonObject counters = new JsonObject();
        for (Map.Entry<String, Long> c : v.counters().entrySet())
            counters.addProperty(c.getKey(), c.getValue());
        o.add("counters", counters);
        o.add("firmware_calls", strings(List.copyOf(v.firmwareCalls())));
        JsonObject invariants = new JsonObject();
        invariants.addProperty("held", v.violations().isEmpty());
        invariants.add("violations", strings(v.violations()));
        o.add("invariants", invariants);
        return o;
    }

    private static JsonArray strings(List<String> values) {
        JsonArray a = new JsonArray(values.size());
        values.forEach(a::add);
        return a;
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }
}
