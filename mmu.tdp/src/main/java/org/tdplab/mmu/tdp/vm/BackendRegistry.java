package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;

import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VmOption;

/**
 * The backends the core has discovered, by VM type. When two services serve one type the one with the higher
 * service ranking (then the lower id) serves new VMs.
 */
final class BackendRegistry {
    static final String CAP_PREFIX = "mmu.cap.";

    record Bound(Backend backend, BackendInfo info, int ranking) {
    }

    /**
     * Which of two services of a type serves new VMs: the higher service ranking, then the newer bundle version (a
     * newer jar dropped next to the running one), then the older service.
     */
    private static final Comparator<Bound> ORDER = Comparator.comparingInt(Bound::ranking)
            .thenComparing(b -> version(b.info().version())).thenComparing(b -> -b.info().serviceId());

    static org.osgi.framework.Version version(String v) {
        try {
            return org.osgi.framework.Version.parseVersion(v);
        } catch (IllegalArgumentException e) {
            return org.osgi.framework.Version.emptyVersion;
        }
    }

    private final ConcurrentMap<String, List<Bound>> byType = new ConcurrentHashMap<>();

    /**
     * Binds a service unless its {@code mmu.cap.*} properties contradict its capabilities: then it is refused and
     * the reason returned (the property, its value and the capabilities' value), for the log.
     */
    Optional<String> add(ServiceReference<?> ref, Backend backend) {
        int ranking = ref.getProperty(Constants.SERVICE_RANKING) instanceof Integer r ? r : 0;
        return add(backend, describe(ref, backend), ranking);
    }

    /** As {@link #add(ServiceReference, Backend)}, with the service's description given. */
    Optional<String> add(Backend backend, BackendInfo advertised, int ranking) {
        List<String> wrong = new java.util.ArrayList<>();
        String type = typeOf(backend, wrong);
        if (type != null && !type.equals(advertised.vmType()))
            wrong.add(Backend.VM_TYPE + "=" + advertised.vmType() + " but vmType() says '" + type + "'");
        Map<String, String> derived = AdvertisedCaps.derive(backend, wrong);
        wrong.addAll(AdvertisedCaps.mismatches(advertised.properties(), derived));
        if (!wrong.isEmpty())
            return Optional.of("backend service " + advertised.serviceId() + " of VM type '" + advertised.vmType()
                    + "' (" + advertised.bundle() + " " + advertised.version() + ") refused: "
                    + String.join("; ", wrong));
        BackendInfo info = new BackendInfo(advertised.vmType(), AdvertisedCaps.completed(advertised.properties(),
                derived), advertised.bundle(), advertised.version(), advertised.serviceId());
        addChecked(backend, info, ranking);
        return Optional.empty();
    }

    private static String typeOf(Backend backend, List<String> wrong) {
        try {
            return backend.vmType();
        } catch (RuntimeException e) {
            wrong.add("vmType() failed: " + BackendSlot.reason(e));
            return null;
        }
    }

    private void addChecked(Backend backend, BackendInfo info, int ranking) {
        byType.computeIfAbsent(info.vmType(), t -> new CopyOnWriteArrayList<>()).add(new Bound(backend, info, ranking));
    }

    void remove(ServiceReference<?> ref) {
        long id = serviceId(ref);
        byType.values().forEach(list -> list.removeIf(b -> b.info().serviceId() == id));
        byType.values().removeIf(List::isEmpty);
    }

    void remove(Backend backend) {
        byType.values().forEach(list -> list.removeIf(b -> b.backend() == backend));
        byType.values().removeIf(List::isEmpty);
    }

    /** The services of a type, the one that serves new VMs first. */
    List<Bound> ranked(String vmType) {
        List<Bound> list = byType.get(vmType);
        if (list == null)
            return List.of();
        return list.stream().sorted(ORDER.reversed()).toList();
    }

    Optional<BackendInfo> infoOf(Backend backend) {
        return byType.values().stream().flatMap(List::stream).filter(b -> b.backend() == backend)
                .map(Bound::info).findFirst();
    }

    Optional<Backend> forType(String vmType) {
        return best(vmType).map(Bound::backend);
    }

    List<String> types() {
        return byType.keySet().stream().sorted().toList();
    }

    List<BackendInfo> all() {
        List<BackendInfo> out = new ArrayList<>();
        byType.values().forEach(list -> list.forEach(b -> out.add(b.info())));
        out.sort(Comparator.comparing(BackendInfo::vmType).thenComparing(BackendInfo::serviceId));
        return out;
    }

    /** The verbs of the serving backend of every type. */
    List<org.tdplab.mmu.api.backend.VerbSpec> verbs() {
        List<org.tdplab.mmu.api.backend.VerbSpec> out = new ArrayList<>();
        for (String type : types())
            best(type).ifPresent(b -> out.addAll(b.backend().verbs()));
        return out;
    }

    /** The creation options of the serving backend of every type, by type. */
    Map<String, List<VmOption>> options() {
        Map<String, List<VmOption>> out = new TreeMap<>();
        for (String type : types())
            best(type).ifPresent(b -> out.put(type, List.copyOf(b.backend().options())));
        return out;
    }

    /** The exception names every serving backend declares. */
    java.util.Set<String> exceptionNames() {
        java.util.Set<String> out = new java.util.TreeSet<>();
        for (String type : types())
            best(type).ifPresent(b -> out.addAll(b.backend().exceptions().values()));
        return out;
    }

    private Optional<Bound> best(String vmType) {
        List<Bound> list = byType.get(vmType);
        if (list == null)
            return Optional.empty();
        return list.stream().max(ORDER);
    }

    private static BackendInfo describe(ServiceReference<?> ref, Backend backend) {
        Object type = ref.getProperty(Backend.VM_TYPE);
        Map<String, String> caps = new TreeMap<>();
        for (String key : ref.getPropertyKeys())
            if (key.startsWith(CAP_PREFIX))
                caps.put(key.substring(CAP_PREFIX.length()), render(ref.getProperty(key)));
        return new BackendInfo(type != null ? type.toString() : typeOf(backend, new java.util.ArrayList<>()) + "", caps,
                ref.getBundle().getSymbolicName(), ref.getBundle().getVersion().toString(), serviceId(ref));
    }

    private static String render(Object value) {
        if (value instanceof Object[] array)
            return String.join(",", java.util.Arrays.stream(array).map(String::valueOf).toList());
        return String.valueOf(value);
    }

    private static long serviceId(ServiceReference<?> ref) {
        return (Long) ref.getProperty(Constants.SERVICE_ID);
    }
}
