package org.tdplab.mmu.scenario.docs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The parts of the repository's Markdown files the doc tests read: fenced code blocks and sections. */
final class Markdown {
    /** A fenced block: its info string ({@code scn}, {@code session}, {@code sh}, …), first body line, body lines. */
    record Block(Path file, String info, int line, List<String> lines) {
        String where() {
            return Docs.ROOT.relativize(file) + ":" + line;
        }
    }

    private Markdown() {
    }

    static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Block> blocks(Path file) {
        List<Block> out = new ArrayList<>();
        List<String> lines = lines(file);
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (!l.startsWith("```"))
                continue;
            String info = l.substring(3).strip();
            int start = i + 1;
            List<String> body = new ArrayList<>();
            for (i = start; i < lines.size() && !lines.get(i).startsWith("```"); i++)
                body.add(lines.get(i));
            out.add(new Block(file, info, start + 1, body));
        }
        return out;
    }

    static List<Block> blocks(Path file, String info) {
        return blocks(file).stream().filter(b -> b.info().equals(info)).toList();
    }

    /**
     * The text of the section under the heading whose text is {@code heading} (any level), up to the next heading
     * of the same or a higher level; table cells' escaped bars {@code \|} read as {@code |}. Empty when absent.
     */
    static String section(Path file, String heading) {
        List<String> lines = lines(file);
        StringBuilder sb = new StringBuilder();
        int level = -1;
        for (String l : lines) {
            int hashes = headingLevel(l);
            if (level < 0) {
                if (hashes > 0 && l.substring(hashes).strip().equals(heading))
                    level = hashes;
                continue;
            }
            if (hashes > 0 && hashes <= level)
                break;
            sb.append(l.replace("\\|", "|")).append('\n');
        }
        return sb.toString();
    }

    private static int headingLevel(String line) {
        int n = 0;
        while (n < line.length() && line.charAt(n) == '#')
            n++;
        return n > 0 && n < line.length() && line.charAt(n) == ' ' ? n : 0;
    }

    /** The whole file as text, escaped bars read as {@code |}. */
    static String text(Path file) {
        return String.join("\n", lines(file)).replace("\\|", "|");
    }
}
