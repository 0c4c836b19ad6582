package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The arguments of a statement whose form {@link Parser} chose, checked against that form: positionals, options (known,
 * required, going together), flags (known, exclusive groups, required groups). Every problem is reported, with a hint
 * where a sibling form or a close spelling explains it.
 */
final class FormArguments {
    private FormArguments() {
    }

    /** The list option (with a fixed set of words) that takes {@code word}, if one does. */
    private static Optional<Schema.Option> listOptionOf(Schema form, String word) {
        return form.options().values().stream().filter(o -> o.type().kind() == ValueType.Kind.LIST
                && o.type().choices().contains(word)).findFirst();
    }

    /** The statement, or null after reporting its problems to {@code p}. */
    static Statement validate(Problems p, Lexer.Line line, Token verb, String prefix, Schema form, String chosenMode,
            List<Schema> siblings, List<Token> positionalTokens, List<Token> optionTokens, List<Token> flagTokens) {
        int before = p.count();
        // positionals
        List<Value> positionals = new ArrayList<>();
        List<Schema.Positional> declared = form.positionals();
        for (int k = 0; k < declared.size(); k++) {
            Schema.Positional d = declared.get(k);
            if (k >= positionalTokens.size()) {
                String hint = k == positionalTokens.size() ? Hints.commentHint(line) : "";
                p.at(verb, prefix + ": missing " + d.name() + " (usage: " + form.usage() + ")" + hint);
                break;
            }
            Token t = positionalTokens.get(k);
            try {
                positionals.add(d.type().parse(t.text(), t.line(), t.column()));
            } catch (IllegalArgumentException e) {
                p.at(t, prefix + ": " + d.name() + ": " + e.getMessage());
            }
        }
        // options
        Map<String, Value> options = new LinkedHashMap<>();
        Map<String, Token> written = new HashMap<>();
        Set<String> meant = new HashSet<>(); // misspelt options and flags: not reported missing as well
        for (Token t : optionTokens) {
            int eq = t.text().indexOf('=');
            String key = t.text().substring(0, eq);
            String text = t.text().substring(eq + 1);
            if (written.containsKey(key)) {
                p.at(t, prefix + ": duplicate option '" + key + "'");
                continue;
            }
            Schema.Option o = form.options().get(key);
            ValueType type;
            if (o != null) {
                type = o.type();
            } else if (form.allowsFreeOptions()) {
                type = ValueType.TEXT;
            } else {
                String hint = Hints.siblingHint(prefix, chosenMode, siblings, "option '" + key + "'",
                        s -> s.options().containsKey(key));
                String guess = Hints.closest(key, form.options().keySet());
                if (hint != null)
                    p.at(t, hint);
                else if (guess != null)
                    p.at(t, prefix + ": unknown option '" + key + "' (did you mean '" + guess + "'?)");
                else if (form.options().isEmpty() && form.positionals().stream().anyMatch(x -> x.name().equals("OP")))
                    p.at(t, prefix + ": unknown option '" + key + "' (no options: a comparison is written with "
                            + "spaces, '" + key + " = " + text + "')");
                else
                    p.at(t, prefix + ": unknown option '" + key + "' ("
                            + (form.options().isEmpty() ? "no options" : "options: "
                                    + String.join(", ", form.options().keySet()))
                            + ")");
                if (guess != null)
                    meant.add(guess);
                continue;
            }
            written.put(key, t);
            if (text.isEmpty()) {
                p.at(t, prefix + ": option '" + key + "' has no value (write " + key + "=VALUE, without spaces)");
                continue;
            }
            try {
                options.put(key, type.parse(text, t.line(), t.column()));
            } catch (IllegalArgumentException e) {
                p.at(t, prefix + ": " + key + ": " + e.getMessage());
            }
        }
        for (Schema.Option o : form.options().values())
            if (o.required() && !written.containsKey(o.key()) && !meant.contains(o.key()))
                p.at(verb, prefix + ": missing required option " + o.key() + "=" + o.placeholder());
        for (List<String> group : form.together()) {
            List<String> present = group.stream().filter(written::containsKey).toList();
            if (!present.isEmpty() && present.size() < group.size()) {
                List<String> missing = group.stream().filter(k -> !written.containsKey(k)).toList();
                p.at(written.get(present.get(0)), prefix + ": options " + String.join(" and ", group)
                        + " go together (missing " + String.join(", ", missing) + ")");
            }
        }
        // flags
        Set<String> flags = new LinkedHashSet<>();
        Map<Schema.FlagGroup, Token> chosen = new HashMap<>();
        Map<String, List<Token>> bareListWords = new LinkedHashMap<>();
        for (Token t : flagTokens) {
            Optional<Schema.FlagGroup> g = form.groupOf(t.text());
            Optional<Schema.Option> list = g.isPresent() ? Optional.empty() : listOptionOf(form, t.text());
            if (list.isPresent()) { // "bare words are flags": `gmem` is `flags=gmem`
                bareListWords.computeIfAbsent(list.get().key(), k -> new ArrayList<>()).add(t);
                continue;
            }
            if (g.isPresent()) {
                Token prev = chosen.get(g.get());
                if (prev != null && !prev.text().equals(t.text())) {
                    p.at(t, prefix + ": '" + prev.text() + "' and '" + t.text() + "' exclude each other");
                    continue;
                }
                chosen.putIfAbsent(g.get(), t);
                flags.add(t.text());
                continue;
            }
            String hint = Hints.siblingHint(prefix, chosenMode, siblings, "'" + t.text() + "'",
                    s -> s.flags().contains(t.text()));
            String guess = Hints.closest(t.text(), form.flags());
            if (hint != null)
                p.at(t, hint);
            else if (form.flags().isEmpty())
                p.at(t, prefix + ": unexpected argument '" + t.text() + "' (usage: " + form.usage() + ")");
            else if (guess != null)
                p.at(t, prefix + ": unknown flag '" + t.text() + "' (did you mean '" + guess + "'?)");
            else
                p.at(t, prefix + ": unknown flag '" + t.text() + "' (flags: " + String.join(", ", form.flags()) + ")");
            if (guess != null)
                meant.addAll(form.groupOf(guess).orElseThrow().flags());
        }
        bareListWords.forEach((key, words) -> {
            StringBuilder text = new StringBuilder(options.containsKey(key) ? String.join(",",
                    options.get(key).list()) : "");
            for (Token w : words)
                text.append(text.length() == 0 ? "" : ",").append(w.text());
            try {
                options.put(key, form.options().get(key).type().parse(text.toString(), words.get(0).line(),
                        words.get(0).column()));
            } catch (IllegalArgumentException e) {
                p.at(words.get(0), prefix + ": " + key + ": " + e.getMessage());
            }
        });
        String mode = "";
        for (Schema.FlagGroup g : form.flagGroups()) {
            Token t = chosen.get(g);
            if (t == null && g.required() && !meant.containsAll(g.flags()))
                p.at(verb, prefix + ": missing " + (g.flags().size() == 1 ? "'" + g.flags().get(0) + "'"
                        : "one of " + String.join("|", g.flags()))
                        + Hints.takenHint(form, positionalTokens, g.flags()));
            if (t != null && g.mode())
                mode = t.text();
        }
        if (p.count() > before)
            return null;
        return new Statement(p.file, verb.line(), verb.column(), line.source(), form, mode, positionals, options,
                flags);
    }
}
