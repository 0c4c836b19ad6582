package org.tdplab.mmu.scenario.docs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Where the user documentation lives: {@code README.md} and {@code docs/*.md} at the repository root. */
final class Docs {
    static final Path ROOT = root();
    static final Path README = ROOT.resolve("README.md");
    static final Path DIR = ROOT.resolve("docs");

    private Docs() {
    }

    static Path doc(String name) {
        return DIR.resolve(name);
    }

    /** README.md and every page under docs/, in name order. */
    static List<Path> all() {
        try (Stream<Path> s = Files.list(DIR)) {
            return Stream.concat(Stream.of(README), s.filter(p -> p.toString().endsWith(".md")).sorted()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code tdplab.root} (set by the build), else the parent of the module directory the tests run in. */
    private static Path root() {
        String r = System.getProperty("tdplab.root");
        Path p = r != null && !r.isBlank() ? Path.of(r) : Path.of("").toAbsolutePath().getParent();
        return p.toAbsolutePath().normalize();
    }
}
