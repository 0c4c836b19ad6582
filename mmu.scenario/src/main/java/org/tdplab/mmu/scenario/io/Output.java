package org.tdplab.mmu.scenario.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The files a run writes ({@code --trace}, {@code --json}, {@code --html}): checked before anything runs, so a
 * long run does not end in a report that cannot be written; a write that fails later still fails the command.
 */
public final class Output {
    private Output() {
    }

    /** Why {@code file} cannot be written, or null when it looks writable (it is neither created nor truncated). */
    public static String problem(String file) {
        if (file.isBlank())
            return "an empty file name";
        if (file.equals("-"))
            return "'-' is no file here (/dev/stdout writes to standard output)";
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

    /**
     * Why these outputs ({@code {option, file}} pairs, file null when not given) may not be written: one is a
     * scenario the run reads, or two name the same file; null when none is.
     */
    public static String clash(String[][] outputs, List<String> inputs) {
        for (int i = 0; i < outputs.length; i++) {
            if (outputs[i][1] == null)
                continue;
            for (String in : inputs)
                if (same(outputs[i][1], in))
                    return outputs[i][0] + " " + outputs[i][1] + " is also a scenario file the run reads: writing it "
                            + "would destroy it";
            for (int j = i + 1; j < outputs.length; j++)
                if (outputs[j][1] != null && same(outputs[i][1], outputs[j][1]))
                    return outputs[i][0] + " and " + outputs[j][0] + " name the same file (" + outputs[i][1] + ")";
        }
        return null;
    }

    private static boolean same(String a, String b) {
        try {
            Path pa = Path.of(a), pb = Path.of(b);
            if (Files.exists(pa) && Files.exists(pb))
                return Files.isSameFile(pa, pb);
            return pa.toAbsolutePath().normalize().equals(pb.toAbsolutePath().normalize());
        } catch (IOException | InvalidPathException e) {
            return false; // an unreadable path is reported where it is used
        }
    }

    /**
     * A file written beside its target and moved over it when done, so that the target is never left half-written
     * and a run that does not get going leaves it alone. A target that is no regular file (a device such as
     * {@code /dev/stdout}, a pipe) is written directly.
     */
    public static Staged staged(String file) throws IOException {
        Path target = Path.of(file);
        if (Files.exists(target) && !Files.isRegularFile(target))
            return new Staged(target, target);
        target = Files.exists(target) ? target.toRealPath() : target.toAbsolutePath();
        Path temp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".part");
        try { // the permissions the file has, or a new file's usual ones (createTempFile makes it private)
            Files.setPosixFilePermissions(temp, Files.exists(target) ? Files.getPosixFilePermissions(target)
                    : java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: its defaults
        }
        return new Staged(target, temp);
    }

    /** {@link #staged}'s file: {@link #path} to write, then {@link #commit} or {@link #drop}. */
    public record Staged(Path target, Path path) {
        /** Replaces the target with what was written. */
        public void commit() throws IOException {
            if (path.equals(target))
                return;
            try {
                Files.move(path, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.AtomicMoveNotSupportedException e) {
                Files.move(path, target, StandardCopyOption.REPLACE_EXISTING);
            }
        }

        /** Leaves the target as it was. */
        public void drop() {
            if (path.equals(target))
                return;
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                // a stray part file is harmless; the target is untouched
            }
        }
    }
}
