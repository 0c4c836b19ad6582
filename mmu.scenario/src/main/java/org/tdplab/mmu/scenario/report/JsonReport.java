package org.tdplab.mmu.scenario.report;

import java.util.List;
import java.util.Map;

import org.tdplab.mmu.scenario.run.Failure;
import org.tdplab.mmu.scenario.run.FileResult;

/**
 * {@code ./tdplab run --json FILE}: the whole run as one JSON object (schema {@code tdplab-run/1}):
 *
 * <pre>
 * { "schema": "tdplab-run/1", "checked": bool, "status": 0|1|2, "passed": n, "failed": n,
 *   "files": [ { "file": path, "ok": bool, "seconds": s, "statements": n, "expectations": n,
 *     "steps":    [ { "line": n, "source": text, "result": "ok|error|exit|exception|violations",
 *                     "errno": name|null, "detail": text|null, "seconds": s, "output": [text…] } ],
 *     "expects":  [ { "line": n, "source": text, "held": bool, "found": text|null } ],
 *     "failures": [ { "line": n, "expected": text, "found": text, "details": [text…] } ],
 *     "vms":      [ { "name": n, "type": t, "bugged": bool, "counters": { name: n… },
 *                     "invariants": { "held": bool, "violations": [text…] } } ] } ] }
 * </pre>
 *
 * A VM's counters and invariant results are taken at the end of the file, before its teardown; a VM the file
 * destroyed itself is not listed. {@code output} holds a workload's metric lines.
 */
public final class JsonReport {
    public static final String SCHEMA = "tdplab-run/1";

    private JsonReport() {
    }

    public static String render(List<FileResult> results, boolean checked, int status) {
        Json j = new Json().open('{').field("schema", SCHEMA).field("checked", checked).field("status", status);
        j.field("passed", results.stream().filter(FileResult::ok).count());
        j.field("failed", results.stream().filter(r -> !r.ok()).count());
        j.key("files").open('[');
        for (FileResult r : results)
            file(j, r);
        return j.close(']').close('}').toString() + "\n";
    }

    private static void file(Json j, FileResult r) {
        j.open('{').field("file", r.file()).field("ok", r.ok()).field("seconds", seconds(r.nanos()))
                .field("statements", r.statements()).field("expectations", r.expectations());
        j.key("steps").open('[');
        for (FileResult.StepRecord s : r.steps()) {
            j.open('{').field("line", s.line()).field("source", s.source()).field("result", s.result())
                    .field("errno", s.errno()).field("detail", s.detail()).field("seconds", seconds(s.nanos()));
            strings(j, "output", s.output());
            j.close('}');
        }
        j.close(']').key("expects").open('[');
        for (FileResult.ExpectRecord e : r.expects())
            j.open('{').field("line", e.line()).field("source", e.source()).field("held", e.held())
                    .field("found", e.found()).close('}');
        j.close(']').key("failures").open('[');
        for (Failure f : r.failures()) {
            j.open('{').field("line", f.line()).field("expected", f.expected()).field("found", f.found());
            strings(j, "details", f.details());
            j.close('}');
        }
        j.close(']').key("vms").open('[');
        for (FileResult.VmRecord v : r.vms()) {
            j.open('{').field("name", v.name()).field("type", v.type()).field("bugged", v.bugged());
            j.key("counters").open('{');
            for (Map.Entry<String, Long> c : v.counters().entrySet())
                j.field(c.getKey(), c.getValue());
            j.close('}').key("invariants").open('{').field("held", v.violations().isEmpty());
            strings(j, "violations", v.violations());
            j.close('}').close('}');
        }
        j.close(']').close('}');
    }

    private static void strings(Json j, String key, List<String> values) {
        j.key(key).open('[');
        for (String v : values)
            j.value(v);
        j.close(']');
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }
}
