package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code SCENARIO.md} and the schemas agree: every statement its tables name has a schema whose usage line is the
 * contract's own text, every core form is in the contract, and what the contract writes parses. Found at
 * {@code ${tdplab.root}/../shared/SCENARIO.md}, else {@code /work/shared/SCENARIO.md}; skipped if absent.
 */
class ContractTest {
    private static final Pattern CODE = Pattern.compile("`([^`]*)`");
    /** The first column's code spans of every table row (`\|` unescaped), in order. */
    private static final List<String> forms = new ArrayList<>();
    /**
     * Core forms the language adds before the contract names them: {@code SCENARIO.md} is its owner's (read-only
     * here), so a new form waits there; meanwhile each must be in the in-repo reference, {@code
     * docs/scenario-language.md} (checked below), and once the contract writes it, it is held to the contract.
     */
    static final Set<String> PENDING_IN_CONTRACT = Set.of("expect exit fail_entry [reason=R]");
    /** The code spans of the NS.VERB row's second column. */
    private static final List<String> backendExamples = new ArrayList<>();

    @BeforeAll
    static void read() throws IOException {
        List<Path> candidates = new ArrayList<>();
        String root = System.getProperty("tdplab.root");
        if (root != null && !root.isBlank())
            candidates.add(Path.of(root).resolve("../shared/SCENARIO.md").normalize());
        candidates.add(Path.of("/work/shared/SCENARIO.md"));
        Path contract = candidates.stream().filter(Files::isRegularFile).findFirst().orElse(null);
        assumeTrue(contract != null, "SCENARIO.md not found in " + candidates);
        for (String line : Files.readAllLines(contract)) {
            if (!line.startsWith("|") || line.startsWith("|---"))
                continue;
            String[] cells = line.substring(1).split("(?<!\\\\)\\|");
            if (cells.length < 2)
                continue;
            List<String> spans = spans(cells[0]);
            if (spans.isEmpty())
                continue; // a header row
            for (String span : spans) {
                if (span.startsWith("NS.VERB"))
                    spans(cells[1]).stream().filter(s -> s.matches("[a-z]+\\.[a-z_]+ .*|[a-z]+\\.[a-z_]+"))
                            .forEach(backendExamples::add);
                else
                    forms.add(span);
            }
        }
    }

    private static List<String> spans(String cell) {
        List<String> l = new ArrayList<>();
        Matcher m = CODE.matcher(cell);
        while (m.find())
            l.add(m.group(1).replace("\\|", "|"));
        return l;
    }

    @Test
    void tablesWereFound() {
        assertTrue(forms.size() >= 30, "statement forms found in SCENARIO.md: " + forms);
        assertTrue(forms.contains("slot.add VM ID gpa=A size=S [flags=gmem,readonly,dirty_log] [backing=4K|2M|1G]"),
                forms.toString());
        assertEquals(4, backendExamples.size(), backendExamples.toString());
    }

    @Test
    void everyVerbNamedHasASchema() {
        Parser p = new Parser();
        List<String> missing = new ArrayList<>();
        for (String form : forms) {
            String[] words = form.split(" ");
            List<Schema> schemas = p.forms(words[0]);
            if (words[0].equals("expect"))
                schemas = schemas.stream().filter(s -> form.startsWith(s.name() + " ") || form.equals(s.name()))
                        .toList();
            if (schemas.isEmpty())
                missing.add(form);
        }
        assertEquals(List.of(), missing, "statements of SCENARIO.md without a schema");
    }

    /**
     * Each form is a schema's usage as the contract writes it, or that usage extended by optional parts only (an
     * option the language adds, as {@code slot.log}'s {@code manual_protect=}: the contract is extended, never
     * changed); and every core schema is a contract form so written.
     */
    @Test
    void everyFormIsWrittenAsTheContractWritesIt() {
        Set<String> usages = new LinkedHashSet<>();
        CoreVerbs.all().forEach(s -> usages.add(s.usage()));
        List<String> notMatched = forms.stream().filter(f -> usages.stream().noneMatch(u -> extends_(u, f))).toList();
        assertEquals(List.of(), notMatched, "contract forms whose schema usage differs; schemas: " + usages);
        List<String> undocumented = usages.stream().filter(u -> forms.stream().noneMatch(f -> extends_(u, f)))
                .filter(u -> !PENDING_IN_CONTRACT.contains(u)).toList();
        assertEquals(List.of(), undocumented, "core forms missing from SCENARIO.md");
    }

    /** Whether {@code usage} is {@code form}, or {@code form} followed by optional ({@code [..]}) parts only. */
    static boolean extends_(String usage, String form) {
        if (usage.equals(form))
            return true;
        return usage.startsWith(form + " ") && usage.substring(form.length()).matches("( \\[[^\\[\\]]+\\])+");
    }

    /** A form still pending in the contract is a core form, and the in-repo reference writes it. */
    @Test
    void aFormPendingInTheContractIsInTheLanguageReference() throws IOException {
        Path reference = Path.of(System.getProperty("tdplab.root", "../"), "docs/scenario-language.md");
        assumeTrue(Files.isRegularFile(reference), reference + " not found");
        String text = Files.readString(reference);
        Set<String> usages = new LinkedHashSet<>();
        CoreVerbs.all().forEach(s -> usages.add(s.usage()));
        for (String form : PENDING_IN_CONTRACT) {
            assertTrue(usages.contains(form), "no core schema writes " + form + ": " + usages);
            assertTrue(text.contains("| `" + form.replace("|", "\\|") + "` |"), form + " missing from " + reference);
        }
    }

    @Test
    void anExtensionAddsOptionalPartsOnly() {
        assertTrue(extends_("slot.log VM ID on|off [a=on|off] [b=on|off]", "slot.log VM ID on|off [a=on|off]"));
        assertFalse(extends_("slot.log VM ID on|off [a=on|off] b=on|off", "slot.log VM ID on|off [a=on|off]"));
        assertFalse(extends_("slot.log VM ID on|off", "slot.log VM ID on|off [a=on|off]"));
        assertFalse(extends_("slot.logs VM ID on|off [a=on|off]", "slot.log VM ID on|off"));
    }

    @Test
    void backendExamplesMatchTheTestCatalog() {
        assertEquals(backendExamples, Fixtures.BACKENDS.verbs().stream().map(Schema::usage).toList());
    }

    @Test
    void whatTheContractWritesParses() {
        List<String> failures = new ArrayList<>();
        List<String> all = new ArrayList<>(forms);
        all.addAll(backendExamples);
        for (String form : all)
            for (boolean full : new boolean[] { false, true })
                for (int alternative : new int[] { 0, 1, 2 }) {
                    String line = instance(form, full, alternative);
                    String text = subject(line) + "\n" + line; // a subject for outcome expectations
                    ParseResult r = Fixtures.FULL.parse("contract", text);
                    if (!r.ok())
                        failures.add(line + " -> " + r.report());
                }
        assertEquals(List.of(), failures);
    }

    /** A statement an outcome expectation can follow. */
    private static String subject(String expectation) {
        if (expectation.startsWith("expect result"))
            return "age vm0 gpa=0 size=4K";
        if (expectation.startsWith("expect remaining"))
            return "prefault vm0 gpa=0 size=4K";
        return "guest vm0 vcpu=0 read gpa=0";
    }

    /** A line of {@code form}: optional parts left out or all written, the given alternative of each choice. */
    static String instance(String form, boolean full, int alternative) {
        List<String> out = new ArrayList<>();
        List<String> parts = new ArrayList<>();
        // split at spaces outside brackets
        StringBuilder cur = new StringBuilder();
        int depth = 0;
        for (char c : form.toCharArray()) {
            if (c == '[')
                depth++;
            if (c == ']')
                depth--;
            if (c == ' ' && depth == 0) {
                parts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        parts.add(cur.toString());
        String verb = parts.get(0);
        for (String part : parts) {
            if (part.startsWith("[")) {
                if (!full)
                    continue;
                for (String inner : part.substring(1, part.length() - 1).split(" "))
                    out.add(inner.equals("k=v…") ? "extra=1" : word(form, inner, alternative));
            } else {
                out.add(part == verb ? part : word(form, part, alternative));
            }
        }
        return String.join(" ", out);
    }

    private static String word(String form, String part, int alternative) {
        int eq = part.indexOf('=');
        if (eq > 0)
            return part.substring(0, eq + 1) + value(part.substring(eq + 1), alternative);
        if (part.contains("|")) {
            String[] alts = part.split("\\|");
            return alts[Math.min(alternative, alts.length - 1)];
        }
        if (!part.matches("[A-Z]+"))
            return part; // a kind word
        return switch (part) {
        case "VM" -> "vm0";
        case "ID", "N" -> "1";
        case "V" -> "0x5";
        case "OP" -> ">=";
        case "WORKLOAD" -> "demand_paging";
        case "NAME" -> form.startsWith("expect error") ? "EINVAL" : form.startsWith("expect exception") ? "VE"
                : "pages_4k";
        default -> throw new IllegalArgumentException("placeholder " + part + " in " + form);
        };
    }

    private static String value(String placeholder, int alternative) {
        return switch (placeholder) {
        case "A" -> "0x200000";
        case "S" -> "2M";
        case "N" -> "1";
        case "T" -> "default";
        case "V" -> "7";
        default -> {
            if (placeholder.contains("|")) {
                String[] alts = placeholder.split("\\|");
                yield alts[Math.min(alternative, alts.length - 1)];
            }
            yield placeholder; // a comma list written out
        }
        };
    }

    @Test
    void instancesLookRight() {
        assertEquals("slot.add vm0 1 gpa=0x200000 size=2M",
                instance("slot.add VM ID gpa=A size=S [flags=gmem,readonly,dirty_log] [backing=4K|2M|1G]", false, 0));
        assertEquals("slot.add vm0 1 gpa=0x200000 size=2M flags=gmem,readonly,dirty_log backing=1G",
                instance("slot.add VM ID gpa=A size=S [flags=gmem,readonly,dirty_log] [backing=4K|2M|1G]", true, 2));
        assertEquals("dirty.clear vm0 1 gpa=0x200000 size=2M", instance("dirty.clear VM ID [gpa=A size=S]", true, 0));
        assertEquals("vm.create vm0 type=default vcpus=1 gpaw=52 extra=1",
                instance("vm.create VM type=T [vcpus=N] [gpaw=48|52] [k=v…]", true, 1));
    }
}
