package org.tdplab.mmu.tdp.vm;

import java.util.List;

import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.tdp.mmu.PageFault;

/** Fans trace events of one VM out to the observers; costs one emptiness check when nobody listens. */
final class Tracer {
    private final String vm;
    private final List<MmuObserver> observers;

    Tracer(String vm, List<MmuObserver> observers) {
        this.vm = vm;
        this.observers = observers;
    }

    void spteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        if (!observers.isEmpty())
            for (MmuObserver o : observers)
                o.spteChanged(vm, 0, root, gfn, level, oldSpte, newSpte);
    }

    /** Whether anybody listens: callers build an operation's text only then. */
    boolean on() {
        return !observers.isEmpty();
    }

    void faultEntered(int vcpu, long gpa, long errorCode) {
        if (!observers.isEmpty())
            for (MmuObserver o : observers)
                o.faultEntered(vm, vcpu, gpa, errorCode);
    }

    void spteRequested(int vcpu, long gfn, long pfn, int level) {
        if (!observers.isEmpty())
            for (MmuObserver o : observers)
                o.spteRequested(vm, vcpu, gfn, pfn, level);
    }

    void operation(String text) {
        for (MmuObserver o : observers)
            o.vmOperation(vm, text);
    }

    void operationFailed(String errno) {
        for (MmuObserver o : observers)
            o.vmOperationFailed(vm, errno);
    }

    void pageFault(int vcpu, long gpa, long errorCode, int ret) {
        if (!observers.isEmpty()) {
            String result = ret >= 0 ? PageFault.name(ret)
                    : ret == FaultHandler.EXIT_MEMORY_FAULT ? "MEMORY_FAULT"
                    : ret == FaultHandler.EXIT_MMIO ? "MMIO" : "DEAD";
            for (MmuObserver o : observers)
                o.pageFault(vm, vcpu, gpa, errorCode, result);
        }
    }

    void exit(int vcpu, Exit exit) {
        if (!observers.isEmpty())
            for (MmuObserver o : observers)
                o.exit(vm, vcpu, exit);
    }

    void firmwareCall(String name, long gfn, int level, String status) {
        if (!observers.isEmpty())
            for (MmuObserver o : observers)
                o.firmwareCall(vm, name, gfn, level, status);
    }

    void tlbFlush(long gfn, long pages) {
        if (!observers.isEmpty())
            for (MmuObserver o : observers)
                o.tlbFlush(vm, gfn, pages);
    }
}
