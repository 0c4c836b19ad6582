package org.tdplab.mmu.tdp.vm;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.tdplab.mmu.api.DestroyedVm;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * A session of the core ({@link VmManager#session()}): the same backends, host memory and observers, with VMs that
 * form a simulated host of their own — fresh backend host state, and its own lists of live and destroyed VMs.
 */
final class HostSession implements VmManager {
    private final VmManagerComponent core;
    /** Kept reachable while the session is: the core tracks hosts weakly. */
    private final HostScope host;

    HostSession(VmManagerComponent core, HostScope host) {
        this.core = core;
        this.host = host;
    }

    @Override
    public Vm create(String name, String type, int vcpus, int gpaw, Map<String, String> options) {
        return core.create(host, name, type, vcpus, gpaw, options);
    }

    @Override
    public Optional<Vm> find(String name) {
        return core.find(host, name);
    }

    @Override
    public Collection<Vm> vms() {
        return core.vms(host);
    }

    @Override
    public List<DestroyedVm> destroyed() {
        return host.destroyed();
    }

    @Override
    public VmManager session() {
        return core.session();
    }

    @Override
    public List<BackendInfo> backends() {
        return core.backends();
    }

    @Override
    public List<VerbSpec> verbs() {
        return core.verbs();
    }

    @Override
    public Map<String, List<VmOption>> options() {
        return core.options();
    }

    @Override
    public java.util.Set<String> exceptionNames() {
        return core.exceptionNames();
    }

    @Override
    public void addObserver(MmuObserver observer) {
        core.addObserver(observer);
    }

    @Override
    public void removeObserver(MmuObserver observer) {
        core.removeObserver(observer);
    }
}
