package org.tdplab.mmu.scenario.lang;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * What to tell a person whose line does not parse: the word they likely meant, the verbs of a namespace, the form
 * that would take an option, and why a word was read as something else.
 */
public final class Hints {
    private Hints() {
    }

    /** The word of {@code known} {@code word} is most likely a misspelling of, or null. */
    public static String closest(String word, Collection<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        String w = word.toLowerCase(java.util.Locale.ROOT);
        for (String k : known) {
            int d = distance(w, k.toLowerCase(java.util.Locale.ROOT));
            int limit = Math.min(w.length(), k.length()) <= 3 ? 1 : 2;
            if (d <= limit && d < bestDistance) {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Levenshtein distance. */
    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++)
            prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++)
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1),
                        prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** When a positional swallowed a word of a missing group: {@code  ('read' was taken as VM)}. */
    static String takenHint(Schema form, List<Token> positionalTokens, Collection<String> words) {
        for (int k = 0; k < positionalTokens.size(); k++)
            if (words.contains(positionalTokens.get(k).text()))
                return " ('" + positionalTokens.get(k).text() + "' was taken as " + form.positionals().get(k).name()
                        + "; is an argument missing?)";
        return "";
    }

    /** When the line ends early and has a comment: {@code #} starts a comment, so {@code #VE} is not a name. */
    static String commentHint(Lexer.Line line) {
        return line.commentColumn() > 0 ? " ('#' starts a comment)" : "";
    }

    /** A message for a word another form of the same verb and kind words accepts, or null. */
    static String siblingHint(String prefix, String mode, List<Schema> siblings, String what,
            Predicate<Schema> knows) {
        List<Schema> others = siblings.stream().filter(knows).toList();
        if (others.isEmpty())
            return null;
        List<String> modes = new ArrayList<>();
        others.forEach(s -> modes.addAll(s.modes()));
        if (mode.isEmpty())
            return prefix + ": " + what + " needs " + String.join("|", modes);
        return prefix + ": " + what + " is not valid with " + mode
                + (modes.isEmpty() ? "" : " (only with " + String.join("|", modes) + ")");
    }

    static String unknownVerb(String verb, Set<String> known) {
        int dot = verb.indexOf('.');
        Set<String> namespaces = new TreeSet<>();
        Set<String> plain = new TreeSet<>();
        for (String v : known) {
            int d = v.indexOf('.');
            if (d < 0)
                plain.add(v);
            else
                namespaces.add(v.substring(0, d));
        }
        if (dot > 0) {
            String ns = verb.substring(0, dot);
            List<String> inNs = known.stream().filter(v -> v.startsWith(ns + ".")).sorted().toList();
            if (!inNs.isEmpty())
                return "unknown verb '" + verb + "' (" + ns + " verbs: " + String.join(", ", inNs) + ")";
            return "unknown verb '" + verb + "': no namespace '" + ns + "' (namespaces: "
                    + String.join(", ", namespaces) + ")";
        }
        return "unknown verb '" + verb + "' (verbs: " + String.join(", ", plain) + "; namespaces: "
                + String.join(", ", namespaces) + ")";
    }
}
