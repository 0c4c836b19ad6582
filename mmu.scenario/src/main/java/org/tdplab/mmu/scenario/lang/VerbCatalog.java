package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The verbs (and workloads) known only at run time, e.g. those the loaded backends contribute. Every verb must be
 * an {@code NS.VERB} and must not be a core verb; the parser checks both when it is built.
 */
public interface VerbCatalog {
    /** No extra verbs. */
    VerbCatalog EMPTY = List::of;

    /** The extra statement forms. */
    List<Schema> verbs();

    /** Extra workload names {@code run} accepts besides the core ones. */
    default Set<String> workloads() {
        return Set.of();
    }

    /** Exception names {@code expect exception} accepts besides the core ones (those backends declare). */
    default Set<String> exceptions() {
        return Set.of();
    }

    /** This catalog, {@code expect exception} also accepting {@code names}. */
    default VerbCatalog withExceptions(Set<String> names) {
        Set<String> e = new LinkedHashSet<>(exceptions());
        e.addAll(names);
        return new Fixed(List.copyOf(verbs()), Set.copyOf(workloads()),
                // sorted: messages list them in order
                java.util.Collections.unmodifiableSet(new java.util.TreeSet<>(e)));
    }

    /** A catalog of these forms. */
    static VerbCatalog of(Schema... verbs) {
        return of(Arrays.asList(verbs), Set.of());
    }

    /** A catalog of these forms and workloads. */
    static VerbCatalog of(List<Schema> verbs, Set<String> workloads) {
        return new Fixed(List.copyOf(verbs), Set.copyOf(workloads), Set.of());
    }

    /** A catalog of fixed lists. */
    record Fixed(List<Schema> verbs, Set<String> workloads, Set<String> exceptions) implements VerbCatalog {
    }

    /** This catalog and {@code other} together. */
    default VerbCatalog and(VerbCatalog other) {
        List<Schema> l = new ArrayList<>(verbs());
        l.addAll(other.verbs());
        Set<String> w = new LinkedHashSet<>(workloads());
        w.addAll(other.workloads());
        Set<String> e = new LinkedHashSet<>(exceptions());
        e.addAll(other.exceptions());
        return of(l, w).withExceptions(e);
    }
}
