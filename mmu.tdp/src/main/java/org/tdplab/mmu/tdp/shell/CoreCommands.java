package org.tdplab.mmu.tdp.shell;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.BackendInfo;

/** Gogo commands of the core, in scope {@code mmu}; {@code ./tdplab backends} dispatches here. */
@Component(service = CoreCommands.class, immediate = true, property = {
        "osgi.command.scope=mmu",
        "osgi.command.function=backends",
        "osgi.command.function=vms",
        "mmu.command.summary=backends: list every backend the core discovered (VM type, capabilities, bundle)",
        "mmu.command.summary=vms: list the VMs that exist now, running, suspended, bugged or dead, and the backend "
                + "serving each (in ./tdplab shell: a fresh ./tdplab process has none)" })
public class CoreCommands {
    @Reference
    VmManager manager;

    private BundleContext context;
    private LoadWatch watch;

    @Activate
    void activate(BundleContext context) {
        this.context = context;
        watch = LoadWatch.start(context, () -> manager.backends().stream().map(BackendInfo::bundle)
                .collect(Collectors.toSet()));
    }

    @Deactivate
    void deactivate() {
        if (watch != null)
            watch.stop();
    }

    /** One line per discovered backend service, then each jar of the load folder that serves no VM type, and why. */
    public void backends() {
        if (manager.backends().isEmpty())
            System.out.println("no backends discovered");
        for (BackendInfo b : manager.backends())
            System.out.printf("%-13s %-78s %s %s%n", b.vmType(), capabilities(b.properties()), b.bundle(), b.version());
        if (context == null)
            return;
        List<String> problems = LoadFolder.problems(context, manager.backends().stream().map(BackendInfo::bundle)
                .collect(Collectors.toSet()));
        if (!problems.isEmpty()) {
            System.out.println("in " + context.getProperty("felix.fileinstall.dir") + ", serving no VM type:");
            problems.forEach(p -> System.out.println("  " + p));
        }
    }

    public void vms() {
        if (manager.vms().isEmpty()) {
            System.out.println("no VMs: a VM lives as long as the runtime that created it, so only an open "
                    + "./tdplab shell (create NAME type=T) or a running scenario has any");
            return;
        }
        for (Vm vm : manager.vms())
            System.out.printf("%-12s type=%s vcpus=%d state=%s backend=%s%n", vm.name(), vm.type(), vm.vcpus(),
                    state(vm), vm.backendVersion().replace(' ', '@'));
    }

    /**
     * {@code running}, {@code suspended (why)}, {@code bugged (why)} ({@code KVM_BUG_ON}) or {@code dead (why)}
     * ({@code kvm_vm_dead} without a bug): a bugged or dead VM refuses everything with EIO.
     */
    static String state(Vm vm) {
        if (vm.suspension().isPresent())
            return "suspended (" + vm.suspension().get() + ")";
        if (vm.bugged())
            return "bugged (" + vm.bugReason().orElse("KVM_BUG_ON") + ")";
        if (vm.dead())
            return "dead (" + vm.deadReason().orElse("kvm_vm_dead") + ")";
        return "running";
    }

    /** The advertised {@code mmu.cap.*} properties; the shared bit shown per address width, e.g. {@code 47@gpaw48}. */
    static String capabilities(Map<String, String> advertised) {
        Map<String, String> caps = new java.util.TreeMap<>(advertised);
        caps.putIfAbsent("shared_bit", ""); // an empty array is not registered as a property
        return caps.entrySet().stream().map(e -> e.getKey() + "=" + render(e.getKey(), e.getValue()))
                .collect(Collectors.joining(" "));
    }

    private static String render(String key, String value) {
        if (value.isEmpty())
            return "none";
        if (!key.equals("shared_bit"))
            return value;
        return java.util.Arrays.stream(value.split(",")).map(w -> {
            String[] gpawBit = w.split("=");
            return gpawBit.length == 2 ? gpawBit[1] + "@gpaw" + gpawBit[0] : w;
        }).collect(Collectors.joining(","));
    }
}
