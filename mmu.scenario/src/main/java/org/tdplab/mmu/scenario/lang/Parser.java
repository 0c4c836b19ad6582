package org.tdplab.mmu.scenario.lang;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.tdplab.mmu.scenario.io.Input;

/**
 * Parses scenario files against the core forms ({@link CoreVerbs}) and a {@link VerbCatalog} of run-time verbs.
 * A whole file is parsed before anything runs and every malformed line is reported, each as
 * {@code FILE:LINE:COL: message}. Immutable and thread-safe once built.
 */
public final class Parser {
    /** {@code key=value}: a key is a letter or {@code _}, then letters, digits, {@code _ . -}. */
    /** The largest scenario file read; a FIFO or a device is read up to it and refused past it. */
    public static final long MAX_BYTES = 8L << 20;
    private static final Pattern OPTION = Pattern.compile("[A-Za-z_][A-Za-z0-9_.\\-]*=.*");

    private final Map<String, List<Schema>> forms;
    private final List<Schema> schemas;

    /** A parser of the core language only. */
    public Parser() {
        this(VerbCatalog.EMPTY);
    }

    /**
     * A parser of the core language and the verbs of {@code catalog}.
     *
     * @throws IllegalArgumentException if a catalog verb is not an {@code NS.VERB}, redefines a core verb, or the
     *         forms of a verb cannot be told apart
     */
    public Parser(VerbCatalog catalog) {
        List<Schema> all = new ArrayList<>(CoreVerbs.all(catalog.workloads(), catalog.exceptions()));
        Set<String> core = all.stream().map(Schema::verb).collect(Collectors.toSet());
        for (Schema s : catalog.verbs()) {
            if (s.namespace().isEmpty())
                throw new IllegalArgumentException("a catalog verb must be NS.VERB: " + s.verb());
            if (core.contains(s.verb()))
                throw new IllegalArgumentException("a catalog verb redefines a core verb: " + s.verb());
            all.add(s);
        }
        Map<String, List<Schema>> byVerb = new TreeMap<>();
        for (Schema s : all)
            byVerb.computeIfAbsent(s.verb(), k -> new ArrayList<>()).add(s);
        byVerb.values().forEach(Schema::checkForms);
        Map<String, List<Schema>> m = new LinkedHashMap<>();
        byVerb.forEach((k, v) -> m.put(k, List.copyOf(v)));
        this.forms = Collections.unmodifiableMap(m);
        this.schemas = List.copyOf(all);
    }

    /** Every form this parser knows, core first, in declaration order. */
    public List<Schema> schemas() {
        return schemas;
    }

    /** The forms of {@code verb} (empty if unknown). */
    public List<Schema> forms(String verb) {
        return forms.getOrDefault(verb, List.of());
    }

    /** Every verb this parser knows, sorted. */
    public Set<String> verbs() {
        return forms.keySet();
    }

    /**
     * Parses a file read as UTF-8; the file name in messages is {@code path} as given.
     *
     * @throws IOException if it cannot be read, or is larger than {@link #MAX_BYTES} (bytes that are not UTF-8 are
     *         a parse error instead)
     */
    public ParseResult parse(Path path) throws IOException {
        String file = path.toString();
        byte[] bytes = Input.bytes(path, MAX_BYTES);
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1);
        CoderResult r = dec.decode(ByteBuffer.wrap(bytes), out, true);
        if (!r.isError())
            r = dec.flush(out);
        out.flip();
        String text = out.toString();
        if (r.isError()) {
            int line = 1 + (int) text.chars().filter(c -> c == '\n').count();
            int column = text.length() - text.lastIndexOf('\n');
            return new ParseResult(file, null,
                    List.of(new ParseException(file, line, column, "not valid UTF-8 text")));
        }
        return parse(file, text);
    }

    /** Parses {@code text}, naming it {@code file} in messages and statements. */
    public ParseResult parse(String file, String text) {
        ErrorList errors = new ErrorList();
        List<Statement> statements = new ArrayList<>();
        Statement subject = null;
        boolean subjectBroken = false;
        for (Lexer.Line line : Lexer.lex(file, text, errors)) {
            boolean expectLine = line.tokens().get(0).text().equals("expect");
            Statement s = statement(file, line, errors);
            if (s == null) {
                if (!expectLine) {
                    subject = null;
                    subjectBroken = true;
                }
                continue;
            }
            if (s.isExpectation()) {
                if (s.expectKind().isOutcome() && !subjectBroken)
                    checkSubject(file, s, subject, errors);
                s.subject(subject);
            } else {
                subject = s;
                subjectBroken = false;
            }
            statements.add(s);
        }
        errors.sort(Comparator.comparingInt(ParseException::line).thenComparingInt(ParseException::column));
        return new ParseResult(file, errors.isEmpty() ? new Script(file, statements) : null, errors, errors.omitted);
    }

    /** The verbs of the core forms; any other verb is a backend's. */
    private static final Set<String> CORE = CoreVerbs.all().stream().map(Schema::verb)
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    private static void checkSubject(String file, Statement s, Statement subject, List<ParseException> errors) {
        String name = s.schema().name();
        if (subject == null) {
            errors.add(new ParseException(file, s.line(), s.column(), name + ": no statement before it to apply to"));
            return;
        }
        String what = subject.mode().isEmpty() ? subject.verb() : subject.verb() + " " + subject.mode();
        String found = " but the statement before it (line " + subject.line() + ") is '" + what + "'";
        switch (s.expectKind()) {
        case EXIT_MEMORY_FAULT, EXIT_MMIO, EXIT_FAIL_ENTRY, EXCEPTION -> {
            if (!subject.verb().equals("guest"))
                errors.add(new ParseException(file, s.line(), s.column(),
                        name + ": applies to a guest access," + found));
        }
        case VALUE -> {
            if (!subject.verb().equals("guest") || !(subject.has("read") || subject.has("exec")))
                errors.add(new ParseException(file, s.line(), s.column(),
                        name + ": applies to a guest read or exec," + found));
        }
        case RESULT -> {
            // age / test_age, or a backend verb (one that returns a count)
            if (!subject.verb().equals("age") && !subject.verb().equals("test_age") && CORE.contains(subject.verb()))
                errors.add(new ParseException(file, s.line(), s.column(),
                        name + ": applies to age, test_age or a backend verb," + found));
        }
        case REMAINING -> {
            // prefault, or a backend verb (populating verbs hand back what they left)
            if (!subject.verb().equals("prefault") && CORE.contains(subject.verb()))
                errors.add(new ParseException(file, s.line(), s.column(),
                        name + ": applies to prefault or a backend verb," + found));
        }
        default -> {
        }
        }
    }

    /** The statement of {@code line}, or null after adding its errors. */
    private Statement statement(String file, Lexer.Line line, List<ParseException> errors) {
        Problems p = new Problems(file, errors);
        List<Token> tokens = line.tokens();
        Token verb = tokens.get(0);
        List<Schema> candidates = forms.get(verb.text());
        if (candidates == null) {
            p.at(verb, Hints.unknownVerb(verb.text(), forms.keySet()));
            return null;
        }
        // kind words
        int next = 1;
        String prefix = verb.text();
        for (int depth = 0;; depth++) {
            final int d = depth;
            if (candidates.stream().noneMatch(f -> f.words().size() > d))
                break;
            Set<String> kinds = new TreeSet<>();
            candidates.forEach(f -> kinds.add(f.words().get(d)));
            if (next >= tokens.size()) {
                p.at(verb, prefix + ": missing kind (" + ValueType.oneOfText(List.copyOf(kinds)) + ")"
                        + Hints.commentHint(line));
                return null;
            }
            Token t = tokens.get(next++);
            List<Schema> matching = candidates.stream().filter(f -> f.words().get(d).equals(t.text())).toList();
            if (matching.isEmpty()) {
                p.at(t, prefix + ": unknown kind '" + t.text() + "' (" + ValueType.oneOfText(List.copyOf(kinds)) + ")");
                return null;
            }
            candidates = matching;
            prefix += " " + t.text();
        }
        // options and bare words; the first bare words are the positionals
        List<Token> optionTokens = new ArrayList<>();
        List<Token> bare = new ArrayList<>();
        for (Token t : tokens.subList(next, tokens.size()))
            (OPTION.matcher(t.text()).matches() ? optionTokens : bare).add(t);
        int positionalCount = candidates.get(0).positionals().size();
        List<Token> positionalTokens = bare.subList(0, Math.min(positionalCount, bare.size()));
        List<Token> flagTokens = bare.subList(positionalTokens.size(), bare.size());

        Schema form = candidates.size() == 1 ? candidates.get(0) : null;
        String mode = "";
        if (form == null) {
            Map<String, Schema> byMode = new LinkedHashMap<>();
            candidates.forEach(f -> f.modes().forEach(m -> byMode.put(m, f)));
            Token chosen = null;
            for (Token t : flagTokens) {
                if (!byMode.containsKey(t.text()))
                    continue;
                if (chosen == null) {
                    chosen = t;
                } else if (!chosen.text().equals(t.text())) {
                    p.at(t, prefix + ": '" + chosen.text() + "' and '" + t.text() + "' exclude each other");
                    return null;
                }
            }
            if (chosen != null) {
                form = byMode.get(chosen.text());
                mode = chosen.text();
            } else {
                form = candidates.stream().filter(f -> f.modes().isEmpty()).findFirst().orElse(null);
                // a mode word taken as a positional argument: the hint below says so, which explains more
                boolean modeTaken = positionalTokens.stream().anyMatch(t -> byMode.containsKey(t.text()));
                if (form == null) {
                    for (Token t : modeTaken ? List.<Token>of() : flagTokens) {
                        if (candidates.stream().anyMatch(f -> f.flags().contains(t.text())))
                            continue;
                        String guess = Hints.closest(t.text(), byMode.keySet());
                        p.at(t, prefix + ": unknown flag '" + t.text() + "' " + (guess != null
                                ? "(did you mean '" + guess + "'?)"
                                : "(one of " + String.join("|", byMode.keySet()) + " goes here)"));
                        return null;
                    }
                    p.at(verb, prefix + ": missing one of " + String.join("|", byMode.keySet())
                            + Hints.takenHint(candidates.get(0), positionalTokens, byMode.keySet()));
                    return null;
                }
                // an option only a moded form knows means that form was meant, without its mode word
                for (Token t : optionTokens) {
                    String key = t.text().substring(0, t.text().indexOf('='));
                    if (form.options().containsKey(key))
                        continue;
                    List<String> modes = candidates.stream().filter(f -> f.options().containsKey(key))
                            .flatMap(f -> f.modes().stream()).toList();
                    if (!modes.isEmpty()) {
                        p.at(t, prefix + ": option '" + key + "' needs " + String.join("|", modes));
                        return null;
                    }
                }
            }
        }
        List<Schema> siblings = new ArrayList<>(candidates);
        siblings.remove(form);
        return FormArguments.validate(p, line, verb, prefix, form, mode, siblings, positionalTokens, optionTokens,
                flagTokens);
    }
}
