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

    /** A catalog of these forms. */
    static VerbCatalog of(Schema... verbs) {
        List<Schema> l = List.copyOf(Arrays.asList(verbs));
        return () -> l;
    }

    /** A catalog of these forms and workloads. */
    static VerbCatalog of(List<Schema> verbs, Set<String> workloads) {
        List<Schema> l = List.copyOf(verbs);
        Set<String> w = Set.copyOf(workloads);
        return new VerbCatalog() {
            @Override
            public List<Schema> verbs() {
                return l;
            }

            @Override
            public Set<String> workloads() {
                return w;
            }
        };
    }

    /** This catalog and {@code other} together. */
    default VerbCatalog and(VerbCatalog other) {
        List<Schema> l = new ArrayList<>(verbs());
        l.addAll(other.verbs());
        Set<String> w = new LinkedHashSet<>(workloads());
        w.addAll(other.workloads());
        return of(l, w);
    }
}
