package org.tdplab.mmu.tdp.vm;

import java.util.function.Consumer;

import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VmCapabilities;

/** A VM as the core holds it. */
final class CoreVm implements Vm {
    private final String name;
    private final String type;
    private final int vcpus;
    private final VmCapabilities capabilities;
    private final Consumer<CoreVm> onDestroy;

    CoreVm(String name, String type, int vcpus, VmCapabilities capabilities, Consumer<CoreVm> onDestroy) {
        this.name = name;
        this.type = type;
        this.vcpus = vcpus;
        this.capabilities = capabilities;
        this.onDestroy = onDestroy;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String type() {
        return type;
    }

    @Override
    public int vcpus() {
        return vcpus;
    }

    @Override
    public VmCapabilities capabilities() {
        return capabilities;
    }

    @Override
    public void destroy() {
        onDestroy.accept(this);
    }
}
