package org.tdplab.mmu.scenario.run;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;

/**
 * The VMs of one file run, in a session of the core of their own ({@code VmManager.session()}): one simulated host,
 * so whatever backends share among a host's VMs starts fresh for each file, and a file run twice gives the same
 * counters. The core is shared by every run in the process (and the interactive shell), so each VM gets an internal
 * name {@code run-N/NAME} that no other run can take; reports show the scenario's names.
 */
final class ScenarioVms {
    private static final AtomicLong RUNS = new AtomicLong();

    private final VmManager manager;
    private final String prefix;
    /** What holds the VMs, for messages: "this scenario", or "this shell" for the interactive shell's session. */
    private final String where;
    private final Map<String, ScenarioVm> byName = new LinkedHashMap<>();

    ScenarioVms(VmManager manager) {
        this(manager, "run-" + RUNS.incrementAndGet() + "/");
    }

    /** VMs named {@code PREFIX NAME} inside the core (the interactive shell's session uses {@code shell-N/}). */
    ScenarioVms(VmManager manager, String prefix) {
        this(manager, prefix, "this scenario");
    }

    /** VMs named {@code PREFIX NAME} inside the core, said to be in {@code where} by messages. */
    ScenarioVms(VmManager manager, String prefix, String where) {
        this.manager = manager.session();
        this.prefix = prefix;
        this.where = where;
    }

    /** What a statement or an expectation naming a VM there is not says. */
    String noVm(String name) {
        return "no VM '" + name + "' in " + where;
    }

    /** The verbs the backends contribute now. */
    List<org.tdplab.mmu.api.backend.VerbSpec> verbs() {
        return manager.verbs();
    }

    ScenarioVm create(String name, String type, int vcpus, int gpaw, Map<String, String> options) {
        Vm vm = manager.create(prefix + name, type, vcpus, gpaw, options);
        ScenarioVm v = new ScenarioVm(name, vm);
        byName.put(name, v);
        return v;
    }

    /** The VM called {@code name} (destroyed or not); EINVAL naming it when the scenario has no such VM. */
    ScenarioVm require(String name) {
        ScenarioVm v = byName.get(name);
        if (v == null)
            throw new MmuException(Errno.EINVAL, "%s (%s)", noVm(name),
                    byName.isEmpty() ? "it has created none" : "its VMs: " + String.join(", ", byName.keySet()));
        return v;
    }

    Optional<ScenarioVm> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** The VMs not destroyed yet, in creation order. */
    List<ScenarioVm> live() {
        List<ScenarioVm> out = new ArrayList<>();
        for (ScenarioVm v : byName.values())
            if (!v.destroyed())
                out.add(v);
        return out;
    }

    /** {@code text} with internal VM names replaced by the scenario's names. */
    String display(String text) {
        return text == null ? "" : text.replace(prefix, "");
    }
}
