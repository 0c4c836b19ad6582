package org.tdplab.mmu.scenario.io;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * The files a run writes ({@code --trace}, {@code --json}, {@code --html}): checked before anything runs, so a
 * long run does not end in a report that cannot be written; a write that fails later still fails the command.
 */
public final class Output {
    private Output() {
    }

    /** Why {@code file} cannot be written, or null when it looks writable (it is neither created nor truncated). */
    public static String problem(String file) {
        Path p;
        try {
            p = Path.of(file);
        } catch (InvalidPathException e) {
            return "not a valid path: " + e.getReason();
        }
        if (Files.isDirectory(p))
            return "is a directory";
        if (Files.exists(p))
            return Files.isWritable(p) ? null : "permission denied";
        Path dir = p.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir))
            return "no such directory: " + (p.getParent() == null ? dir : p.getParent());
        return Files.isWritable(dir) ? null : "permission denied (directory " + dir + ")";
    }
}
