package org.tdplab.mmu.scenario.replay;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.tdplab.mmu.scenario.trace.BadTrace;
import org.tdplab.mmu.scenario.trace.Operation;
import org.tdplab.mmu.scenario.trace.TraceEvent;
import org.tdplab.mmu.scenario.trace.TraceReader;
import org.tdplab.mmu.scenario.trace.TraceReader.Trace;

/**
 * A trace cut into {@link Step}s. Each thread's SPTE changes belong to the step that thread began last (the
 * kernel logs {@code kvm_page_fault} before handling the fault, and each operation before running it), up to its
 * next step. Changes a thread makes outside any step (a kernel thread, say) are counted, not compared.
 */
final class ReplayPlan {
    final List<Step> steps = new ArrayList<>();
    long unattributed;

    /** The plan of {@code trace}; a step a replay cannot run is added to {@code bad} with its line. */
    static ReplayPlan of(Trace trace, BadTrace bad) {
        ReplayPlan plan = new ReplayPlan();
        Map<String, Step> open = new HashMap<>();
        List<TraceEvent> events = trace.events();
        for (int i = 0; i < events.size(); i++) {
            TraceEvent e = events.get(i);
            Step current = open.get(e.thread());
            switch (e.name()) {
            case "kvm_page_fault" -> {
                open.put(e.thread(), plan.begin(Step.Kind.FAULT, e, trace, i));
                String problem = Required.faultProblem(e.fields());
                if (problem != null)
                    bad.add(e.line(), problem);
            }
            case "tdplab_vm_op" -> {
                open.put(e.thread(), plan.begin(Step.Kind.OPERATION, e, trace, i));
                String problem = Required.problem(Operation.parse(e.fields()));
                if (problem != null)
                    bad.add(e.line(), problem);
            }
            case "tdplab_page_fault_done" -> {
                // the step stays open: the exit handler may go on after the fault handler (an RMP fault's PSMASH)
                if (current != null && current.kind == Step.Kind.FAULT) {
                    current.result = TraceReader.field(e.fields(), "result");
                    current.last = i;
                }
            }
            case "tdplab_vm_op_failed" -> {
                if (current != null && current.kind == Step.Kind.OPERATION) {
                    current.result = TraceReader.field(e.fields(), "errno");
                    current.last = i;
                }
            }
            case "kvm_tdp_mmu_spte_changed" -> {
                SpteChange c = change(e);
                if (c == null)
                    bad.add(e.line(), "kvm_tdp_mmu_spte_changed needs gfn, level, old_spte and new_spte (hex): '"
                            + e.fields() + "'");
                else if (current == null)
                    plan.unattributed++;
                else {
                    current.changes.add(c);
                    current.last = i;
                }
            }
            default -> {
            }
            }
        }
        plan.markOverlaps();
        return plan;
    }

    private Step begin(Step.Kind kind, TraceEvent e, Trace trace, int index) {
        Step s = new Step(kind, e.line(), trace.vm(e), e.thread(), e.fields(), index);
        steps.add(s);
        return s;
    }

    /** {@code as id 0 gfn 1f level 1 old_spte … new_spte …}, or null when a field is missing or not a number. */
    static SpteChange change(TraceEvent e) {
        String f = e.fields();
        String gfn = TraceReader.field(f, "gfn"), level = TraceReader.field(f, "level"),
                old = TraceReader.field(f, "old_spte"), now = TraceReader.field(f, "new_spte");
        if (gfn == null || level == null || old == null || now == null)
            return null;
        try {
            return new SpteChange(Long.parseUnsignedLong(gfn, 16), Integer.parseInt(level),
                    Long.parseUnsignedLong(old, 16), Long.parseUnsignedLong(now, 16));
        } catch (NumberFormatException x) {
            return null;
        }
    }

    /** Marks the steps of a VM during which another thread of that VM logged a step or a change. */
    private void markOverlaps() {
        Map<String, Step> latest = new HashMap<>(); // per VM: the step that ends last so far
        for (Step s : steps) {
            Step before = latest.get(s.vm);
            if (before != null && before.last > s.first && !before.thread.equals(s.thread)) {
                before.overlapped = true;
                s.overlapped = true;
            }
            if (before == null || s.last > before.last)
                latest.put(s.vm, s);
        }
    }
}
