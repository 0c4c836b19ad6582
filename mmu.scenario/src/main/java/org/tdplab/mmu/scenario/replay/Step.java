package org.tdplab.mmu.scenario.replay;

import java.util.ArrayList;
import java.util.List;

/**
 * What a replay runs once: an exit's fault ({@code kvm_page_fault}) or a VMM operation ({@code tdplab_vm_op}),
 * with the SPTE changes the trace shows its thread making until that thread's next step.
 */
final class Step {
    enum Kind {
        FAULT, OPERATION
    }

    final Kind kind;
    final int line;
    final String vm;
    final String thread;
    /** The event's fields: the fault's, or the operation's text. */
    final String text;
    final List<SpteChange> changes = new ArrayList<>();
    /** A fault's result ({@code FIXED}, …), or the errno an operation failed with; null when none was traced. */
    String result;
    /** Index of the first and the last trace event that belongs to this step. */
    final int first;
    int last;
    /** Another thread of the same VM logged events while this step ran: its outcome may depend on the timing. */
    boolean overlapped;

    Step(Kind kind, int line, String vm, String thread, String text, int index) {
        this.kind = kind;
        this.line = line;
        this.vm = vm;
        this.thread = thread;
        this.text = text;
        this.first = index;
        this.last = index;
    }

    String describe() {
        return (kind == Kind.FAULT ? "kvm_page_fault: " : "tdplab_vm_op: ") + text;
    }
}
