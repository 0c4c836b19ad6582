package org.tdplab.mmu.scenario.run;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the scenario library is, for tests of any package. */
public final class LibraryPaths {
    private LibraryPaths() {
    }

    /** The repository root: surefire's {@code tdplab.root}, else the nearest directory up that has scenarios/. */
    public static Path root() {
        String property = System.getProperty("tdplab.root");
        if (property != null && !property.isBlank())
            return Path.of(property);
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent())
            if (Files.isDirectory(p.resolve("scenarios")))
                return p;
        throw new IllegalStateException("no scenarios/ above " + Path.of("").toAbsolutePath());
    }

    public static Path scenarios() {
        return root().resolve("scenarios");
    }
}
