package org.tdplab.mmu.scenario.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
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
            if (!regularOrAbsent(pa) || !regularOrAbsent(pb))
                return false; // a device (/dev/null, /dev/stdout) takes any number of writers
            if (Files.exists(pa) && Files.exists(pb))
                return Files.isSameFile(pa, pb);
            return pa.toAbsolutePath().normalize().equals(pb.toAbsolutePath().normalize());
        } catch (IOException | InvalidPathException e) {
            return false; // an unreadable path is reported where it is used
        }
    }

    /**
     * The process's own standard output or error when {@code file} names it ({@code /dev/stdout}, {@code /dev/fd/1},
     * …), else null. Opening such a name again starts a new write position at 0 in the file the shell redirected
     * to, which then overwrites what the process prints; writing to the descriptor itself appends after it.
     */
    public static java.io.OutputStream standardStream(String file) {
        int fd = switch (file) {
        case "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1" -> 1;
        case "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2" -> 2;
        default -> 0;
        };
        if (fd == 0)
            return null;
        java.io.FileOutputStream out = new java.io.FileOutputStream(fd == 1 ? java.io.FileDescriptor.out
                : java.io.FileDescriptor.err);
        return new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                flush(); // the descriptor stays open: the process still prints to it
            }
        };
    }

    /** A path that is a regular file itself (not a link, device or pipe), or nothing yet. */
    private static boolean regularOrAbsent(Path p) {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS))
            return true;
        String abs = p.toAbsolutePath().normalize().toString();
        return Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && !abs.startsWith("/proc/")
                && !abs.startsWith("/dev/");
    }

    /**
     * A file written beside its target and moved over it when done, so that the target is never left half-written
     * and a run that does not get going leaves it alone. Anything but a regular file or a new one — a link (also
     * {@code /dev/stdout}, which may lead to the file the shell redirected to), a device, a pipe — is written
     * directly, and so is a file whose directory takes no new file. The staged file is created with the usual
     * permissions (the umask's), or the target's, and deleted if the JVM ends before it is moved (Ctrl-C).
     */
    public static Staged staged(String file) throws IOException {
        Path target = Path.of(file);
        if (!regularOrAbsent(target))
            return new Staged(target, target);
        target = target.toAbsolutePath();
        Path temp = target.resolveSibling("." + target.getFileName() + "." + ProcessHandle.current().pid() + "."
                + System.nanoTime() + ".part");
        try {
            Files.createFile(temp);
        } catch (IOException e) {
            return new Staged(target, target); // a read-only directory, say: the file itself may still be writable
        }
        temp.toFile().deleteOnExit();
        if (Files.exists(target)) {
            try {
                Files.setPosixFilePermissions(temp, Files.getPosixFilePermissions(target));
            } catch (UnsupportedOperationException | IOException e) {
                // not a POSIX file system, or not ours to change: the new file's own
            }
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
