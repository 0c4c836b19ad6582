package org.tdplab.mmu.scenario.shell;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.scenario.lang.Parser;
import org.tdplab.mmu.scenario.lang.Schema;
import org.tdplab.mmu.scenario.lang.ValueType;

/**
 * What Tab offers after a shell command: the statement's next word given the words before it — a VM name, a kind
 * word, {@code key=} for an option not written yet, a value of the option being written (a VM type, a level,
 * {@code on|off}, a VM type's own options), a flag, a counter name, a file. Pure: the shell's state comes in.
 */
public final class Completion {
    /** One candidate: the word, a line about it, and whether the word is complete (a space follows). */
    public record Candidate(String value, String description, boolean complete) {
    }

    /** What the candidates are computed from. */
    public record Context(Parser language, List<String> vms, Map<String, List<VmOption>> typeOptions,
            Function<String, Set<String>> counters, List<String> commands) {
    }

    private final Context ctx;

    public Completion(Context ctx) {
        this.ctx = ctx;
    }

    /**
     * The candidates for {@code current} (the word being typed, up to the cursor) after {@code command} (without
     * its scope) and the complete words {@code before} it.
     */
    public List<Candidate> complete(String command, List<String> before, String current) {
        List<Candidate> all = switch (command) {
        case "create" -> statement("vm.create", before, current);
        case "attr" -> statement("attr.set", before, current);
        case "access" -> statement("guest", before, current);
        case "zap" -> statement("zap", before, current);
        case "check" -> statement("check", before, current);
        case "slot" -> slot(before, current);
        case "do" -> before.isEmpty() ? words(ctx.language().verbs(), "a statement") : statement(before.get(0),
                before.subList(1, before.size()), current);
        case "stats" -> before.isEmpty() ? vms() : before.size() == 1 ? counters(before.get(0)) : List.of();
        case "dump" -> before.isEmpty() ? vms() : options(List.of("gpa", "size"), before);
        case "help" -> before.isEmpty() ? words(ctx.commands(), "a command") : List.of();
        case "run" -> files(current, ".scn", List.of("--checked", "--quiet", "--trace", "--json", "--html"));
        case "replay" -> files(current, ".trace", List.of("--type", "--option", "--checked", "--exact", "--max"));
        default -> ctx.language().verbs().contains(command) ? statement(command, before, current) : List.of();
        };
        return all.stream().filter(c -> c.value().startsWith(current)).toList();
    }

    private List<Candidate> slot(List<String> before, String current) {
        List<String> sub = List.of("add", "delete", "move", "log");
        if (!before.isEmpty() && sub.contains(before.get(0)))
            return statement("slot." + before.get(0), before.subList(1, before.size()), current);
        List<Candidate> out = new ArrayList<>();
        if (before.isEmpty())
            out.addAll(words(sub, "slot.VERB"));
        out.addAll(statement("slot.add", before, current));
        return out;
    }

    /** The next word of statement {@code verb} after {@code before}, over every form of the verb. */
    List<Candidate> statement(String verb, List<String> before, String current) {
        List<Candidate> out = new ArrayList<>();
        for (Schema form : ctx.language().forms(verb)) {
            int w = 0;
            while (w < form.words().size() && w < before.size() && form.words().get(w).equals(before.get(w)))
                w++;
            if (w < form.words().size()) {
                if (w == before.size())
                    out.add(new Candidate(form.words().get(w), form.name(), true));
                continue;
            }
            List<String> rest = before.subList(w, before.size());
            int bare = (int) rest.stream().takeWhile(t -> t.indexOf('=') < 0).count();
            if (rest.stream().skip(Math.min(bare, form.positionals().size())).anyMatch(
                    t -> t.indexOf('=') < 0 && !form.flags().contains(t)))
                continue; // a word of another form (another mode): not this one
            if (bare < form.positionals().size() && bare == rest.size()) {
                out.addAll(positional(form, form.positionals().get(bare), rest));
                continue;
            }
            int eq = current.indexOf('=');
            if (eq > 0)
                out.addAll(values(form, current.substring(0, eq), rest));
            else
                out.addAll(optionsAndFlags(form, rest));
        }
        return dedupe(out);
    }

    private List<Candidate> positional(Schema form, Schema.Positional p, List<String> rest) {
        return switch (p.name()) {
        case "VM" -> vms();
        case "WORKLOAD", "OP" -> words(p.type().choices(), p.name());
        case "NAME" -> form.name().equals("expect stat") && !rest.isEmpty() ? counters(rest.get(0))
                : words(p.type().choices(), form.name().equals("expect error") ? "an errno" : "an exception");
        default -> List.of();
        };
    }

    private List<Candidate> optionsAndFlags(Schema form, List<String> rest) {
        List<Candidate> out = new ArrayList<>();
        for (Schema.Option o : form.options().values())
            if (!written(rest, o.key()))
                out.add(new Candidate(o.key() + "=", o.key() + "=" + o.placeholder(), false));
        for (Schema.FlagGroup g : form.flagGroups())
            if (g.flags().stream().noneMatch(rest::contains))
                g.flags().forEach(f -> out.add(new Candidate(f, g.toString(), true)));
        if (form.verb().equals("vm.create"))
            typeOption(rest).forEach(o -> {
                if (!written(rest, o.key()))
                    out.add(new Candidate(o.key() + "=", o.summary(), false));
            });
        return out;
    }

    private List<Candidate> values(Schema form, String key, List<String> rest) {
        Schema.Option o = form.options().get(key);
        if (o == null) {
            if (!form.verb().equals("vm.create"))
                return List.of();
            return typeOption(rest).stream().filter(v -> v.key().equals(key))
                    .flatMap(v -> choices(v.values()).stream()
                            .map(c -> new Candidate(key + "=" + c, v.summary(), true)))
                    .toList();
        }
        if (form.verb().equals("vm.create") && key.equals("type"))
            return ctx.typeOptions().keySet().stream().map(t -> new Candidate("type=" + t, "VM type", true)).toList();
        if (o.type().kind() == ValueType.Kind.LIST)
            return o.type().choices().stream().map(c -> new Candidate(key + "=" + c, o.placeholder(), false)).toList();
        return choices(o.type().kind() == ValueType.Kind.NUMBER ? o.placeholder()
                : String.join("|", o.type().choices()))
                .stream()
                .map(c -> new Candidate(key + "=" + c, o.placeholder(), true)).toList();
    }

    /** The options of the VM type named by {@code type=} among the words. */
    private List<VmOption> typeOption(List<String> rest) {
        return rest.stream().filter(t -> t.startsWith("type=")).findFirst()
                .map(t -> ctx.typeOptions().getOrDefault(t.substring(5), List.of())).orElse(List.of());
    }

    private static List<String> choices(String values) {
        if (!values.contains("|"))
            return List.of();
        return List.of(values.split("\\|"));
    }

    private static boolean written(List<String> words, String key) {
        return words.stream().anyMatch(t -> t.startsWith(key + "="));
    }

    private List<Candidate> options(List<String> keys, List<String> before) {
        return keys.stream().filter(k -> !written(before, k)).map(k -> new Candidate(k + "=", k, false)).toList();
    }

    private List<Candidate> vms() {
        return ctx.vms().stream().map(v -> new Candidate(v, "a VM of this shell", true)).toList();
    }

    private List<Candidate> counters(String vm) {
        return ctx.counters().apply(vm).stream().map(c -> new Candidate(c, "counter", true)).toList();
    }

    private static List<Candidate> words(java.util.Collection<String> words, String description) {
        return words.stream().map(w -> new Candidate(w, description, true)).toList();
    }

    /** The files and directories that continue {@code current}: those ending in {@code suffix}, and the flags. */
    private static List<Candidate> files(String current, String suffix, List<String> flags) {
        List<Candidate> out = new ArrayList<>();
        if (current.startsWith("-"))
            return words(flags, "option");
        int slash = current.lastIndexOf('/');
        Path dir = Path.of(slash < 0 ? "." : slash == 0 ? "/" : current.substring(0, slash));
        String head = slash < 0 ? "" : current.substring(0, slash + 1);
        if (!Files.isDirectory(dir))
            return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                if (name.startsWith("."))
                    continue;
                if (Files.isDirectory(p))
                    out.add(new Candidate(head + name + "/", "directory", false));
                else if (name.endsWith(suffix))
                    out.add(new Candidate(head + name, "file", true));
            }
        } catch (IOException | RuntimeException e) {
            return out; // nothing to offer from a directory that cannot be read
        }
        out.sort(java.util.Comparator.comparing(Candidate::value));
        return out;
    }

    private static List<Candidate> dedupe(List<Candidate> in) {
        Set<String> seen = new LinkedHashSet<>();
        List<Candidate> out = new ArrayList<>();
        for (Candidate c : in)
            if (seen.add(c.value()))
                out.add(c);
        return out;
    }
}
