package org.tdplab.mmu.scenario.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reads a user's input file with a limit, so that a FIFO, a device ({@code /dev/zero}) or an endless file cannot
 * fill the heap: a regular file larger than the limit is refused unread; anything else is read up to the limit
 * and refused past it. Lines are bounded too ({@link Lines}).
 */
public final class Input {
    private Input() {
    }

    /** An input refused for its size or shape; the message names the file and why. */
    public static final class Refused extends IOException {
        private static final long serialVersionUID = 1L;

        public Refused(String message) {
            super(message);
        }
    }

    /** Every byte of {@code path}, at most {@code limit}. */
    public static byte[] bytes(Path path, long limit) throws IOException {
        checkShape(path, limit);
        try (InputStream in = Files.newInputStream(path)) {
            byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (b.length > limit)
                throw tooLong(path, limit);
            return b;
        }
    }

    /** The lines of {@code path} (UTF-8), at most {@code limit} bytes in all and {@code maxLine} characters each. */
    public static Lines lines(Path path, long limit, int maxLine) throws IOException {
        checkShape(path, limit);
        InputStream in = new Bounded(Files.newInputStream(path), limit, path);
        return new Lines(new InputStreamReader(in, StandardCharsets.UTF_8), maxLine);
    }

    /** Why a file could not be read, as a person says it ({@code no such file}), never an exception's name. */
    public static String why(Exception e) {
        if (e instanceof java.nio.file.NoSuchFileException)
            return "no such file";
        if (e instanceof java.nio.file.AccessDeniedException)
            return "permission denied";
        if (e instanceof java.nio.file.InvalidPathException p)
            return "not a valid path: " + p.getReason();
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null)
            return f.getReason();
        return e.getMessage() != null ? e.getMessage() : "input/output error";
    }

    private static void checkShape(Path path, long limit) throws IOException {
        BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
        if (a.isDirectory())
            throw new Refused("is a directory");
        if (a.isRegularFile() && a.size() > limit)
            throw new Refused("is " + a.size() + " bytes, more than the " + Units.bytes(limit) + " an input may be");
    }

    private static Refused tooLong(Path path, long limit) {
        return new Refused("gave more than " + Units.bytes(limit) + " (an endless file or device?); nothing of it "
                + "was used");
    }

    /** A stream that refuses to give more than {@code limit} bytes. */
    private static final class Bounded extends java.io.FilterInputStream {
        private final Path path;
        private long left;
        private final long limit;

        Bounded(InputStream in, long limit, Path path) {
            super(in);
            this.left = limit;
            this.limit = limit;
            this.path = path;
        }

        @Override
        public int read() throws IOException {
            int c = super.read();
            if (c >= 0 && --left < 0)
                throw tooLong(path, limit);
            return c;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0 && (left -= n) < 0)
                throw tooLong(path, limit);
            return n;
        }
    }

    /** Lines from a reader, each at most {@code maxLine} characters (a longer one is refused, not buffered). */
    public static final class Lines implements java.io.Closeable {
        private final Reader in;
        private final int maxLine;
        private final char[] buf = new char[1 << 16];
        private int pos, end, line;
        private final StringBuilder sb = new StringBuilder();

        public Lines(Reader in, int maxLine) {
            this.in = in;
            this.maxLine = maxLine;
        }

        /** The next line without its terminator ({@code \n} or {@code \r\n}), or null at the end. */
        public String next() throws IOException {
            sb.setLength(0);
            boolean any = false;
            while (true) {
                if (pos == end) {
                    end = in.read(buf, 0, buf.length);
                    pos = 0;
                    if (end <= 0) {
                        end = 0;
                        return any ? finish() : null;
                    }
                }
                any = true;
                int start = pos;
                while (pos < end && buf[pos] != '\n')
                    pos++;
                sb.append(buf, start, pos - start);
                if (sb.length() > maxLine + 1)
                    throw new Refused("line " + (line + 1) + " is longer than " + maxLine + " characters");
                if (pos < end) {
                    pos++;
                    return finish();
                }
            }
        }

        private String finish() throws Refused {
            line++;
            int n = sb.length();
            if (n > 0 && sb.charAt(n - 1) == '\r')
                sb.setLength(--n);
            if (n > maxLine)
                throw new Refused("line " + line + " is longer than " + maxLine + " characters");
            return sb.toString();
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
