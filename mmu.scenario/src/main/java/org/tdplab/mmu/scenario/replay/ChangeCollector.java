package org.tdplab.mmu.scenario.replay;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.RootKind;

/**
 * The SPTE changes one step of a replay makes: those of the VM named at {@link #begin}, made on the thread that began,
 * until {@link #end}.
 */
final class ChangeCollector implements MmuObserver {
    private volatile String vm;
    private final List<SpteChange> changes = new ArrayList<>();
    private volatile Thread owner;

    void begin(String name) {
        changes.clear();
        owner = Thread.currentThread();
        vm = name;
    }

    List<SpteChange> end() {
        vm = null;
        return List.copyOf(changes);
    }

    @Override
    public void spteChanged(String name, int asId, RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        if (name.equals(vm) && Thread.currentThread() == owner)
            changes.add(new SpteChange(gfn, level, oldSpte, newSpte));
    }
}
