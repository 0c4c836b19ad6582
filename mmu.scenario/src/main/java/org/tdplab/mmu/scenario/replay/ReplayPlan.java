package org.tdplab.mmu.scenario.replay;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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

    static ReplayPlan of(Trace trace) {
        ReplayPlan plan = new ReplayPlan();
        Map<String, Step> open = new HashMap<>();
        List<TraceEvent> events = trace.events();
        for (int i = 0; i < events.size(); i++) {
            TraceEvent e = events.get(i);
            Step current = open.get(e.thread());
            switch (e.name()) {
            case "kvm_page_fault" -> open.put(e.thread(), plan.begin(Step.Kind.FAULT, e, trace, i));
            case "tdplab_vm_op" -> open.put(e.thread(), plan.begin(Step.Kind.OPERATION, e, trace, i));
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
                if (current == null) {
                    plan.unattributed++;
                } else {
                    current.changes.add(change(e));
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

    /** {@code as id 0 gfn 1f level 1 old_spte … new_spte …}. */
    static SpteChange change(TraceEvent e) {
        String f = e.fields();
        try {
            return new SpteChange(Long.parseUnsignedLong(TraceReader.field(f, "gfn"), 16),
                    Integer.parseInt(TraceReader.field(f, "level")),
                    Long.parseUnsignedLong(TraceReader.field(f, "old_spte"), 16),
                    Long.parseUnsignedLong(TraceReader.field(f, "new_spte"), 16));
        } catch (NumberFormatException | NullPointerException x) {
            throw new IllegalArgumentException("line " + e.line() + ": kvm_tdp_mmu_spte_changed without gfn, level, "
                    + "old_spte and new_spte: '" + f + "'");
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
